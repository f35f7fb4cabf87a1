// The node engine (listen[].engine: node, h2c, and TLS listeners with http2) through real processes: the clients uWS
// cannot serve (HTTP/1.0, pipelining, chunk extensions and trailers), HTTP/2 by ALPN and by prior knowledge through the
// same pipeline (Host from :authority, streamed bodies both ways, HEAD, connection-specific fields dropped, 421 on an
// SNI/Host mismatch), curl --http2, and the access line of an HTTP/2 request.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { startBackend, startProxy, freePort, echo, rawRequest, rawUntilClose, waitFor } from '../helpers/index.ts'
import { createPki } from '../helpers/certs.ts'
import { h2Connect, h2Request } from '../helpers/h2.ts'
import { connect } from 'node:http2'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'

const run = promisify(execFile)

/** A backend that answers with the SHA-256 and length of the body it received, and a body of ?size bytes. */
function hashing (name: string) {
  return (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
    const h = createHash('sha256')
    let n = 0
    req.on('data', (c: Buffer) => { h.update(c); n += c.length })
    req.on('end', () => {
      const size = Number(new URL(req.url!, 'http://x').searchParams.get('size') ?? 0)
      res.setHeader('x-name', name)
      res.setHeader('x-received', `${n} ${h.digest('hex')}`)
      res.setHeader('x-host', req.headers.host ?? '')
      // Connection-specific fields an HTTP/2 client must never get (RFC 9113 §8.2.2).
      res.setHeader('keep-alive', 'timeout=5')
      res.setHeader('upgrade', 'h2c')
      res.setHeader('content-length', String(size)) // node leaves it out of a HEAD answer otherwise
      res.end(Buffer.alloc(size, 'z'))
    })
  }
}

const config = (port: number, backend: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  listen: [{ host: '127.0.0.1', port, engine: 'node', h2c: true }],
  upstreams: { app: { servers: [{ url: backend }] } },
  routes: [{ match: { path: '/' }, upstream: 'app' }],
  ...extra
})

test('HTTP/1.0, pipelined requests and chunk extensions with trailers are answered on the node engine', async (t) => {
  const backend = await startBackend(t, echo('b1'))
  const port = await freePort()
  await startProxy(t, config(port, backend.url))

  // HTTP/1.0 without keep-alive: one answer, then the connection closes (ApacheBench, HAProxy's httpchk).
  const ten = await rawUntilClose(port, 'GET /old HTTP/1.0\r\nHost: a.test\r\n\r\n')
  assert.equal(ten.closed, true)
  assert.match(ten.text, /^HTTP\/1\.1 200 OK\r\n/)
  assert.equal(JSON.parse(ten.text.slice(ten.text.indexOf('\r\n\r\n') + 4)).url, '/old')

  // Two requests in one write: two answers, in order, on the same connection.
  const both = await rawUntilClose(port, 'GET /one HTTP/1.1\r\nHost: a.test\r\n\r\nGET /two HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n')
  const urls = [...both.text.matchAll(/"url":"([^"]+)"/g)].map((m) => m[1])
  assert.deepEqual(urls, ['/one', '/two'])

  // A chunked body with chunk extensions and a trailer section: the backend gets the body intact.
  const r = await rawRequest(port, 'POST /up HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
    '5;name=value\r\nhello\r\n6;x="y"\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n')
  r.socket.destroy()
  assert.equal(r.status, 200)
  assert.equal(JSON.parse(r.body.toString()).body, 'hello world')
})

test('HTTP/2 with prior knowledge (h2c): streams share one connection, bodies stream both ways, HEAD, no connection-specific fields', async (t) => {
  const backend = await startBackend(t, hashing('b1'))
  const port = await freePort()
  await startProxy(t, config(port, backend.url))
  const session = await h2Connect(`http://127.0.0.1:${port}`)
  t.after(() => { session.destroy() })

  // Ten concurrent streams on one connection.
  const many = await Promise.all(Array.from({ length: 10 }, async (_, i) => await h2Request(session, { ':path': `/s?i=${i}&size=${1000 + i}`, ':authority': 'h2.test' })))
  for (const [i, r] of many.entries()) {
    assert.equal(r.status, 200)
    assert.equal(r.body.length, 1000 + i)
    assert.equal(r.headers['x-host'], 'h2.test', ':authority is the Host')
    for (const f of ['connection', 'keep-alive', 'upgrade', 'transfer-encoding']) assert.equal(r.headers[f], undefined, f)
  }

  // 3 MiB up and 3 MiB down on one stream, with the body's length unknown up front (no content-length).
  const up = Buffer.alloc(3 * 1024 * 1024, 'q')
  const big = await h2Request(session, { ':method': 'POST', ':path': `/big?size=${3 * 1024 * 1024}`, ':authority': 'h2.test' }, up, 30_000)
  assert.equal(big.status, 200)
  assert.equal(big.headers['x-received'], `${up.length} ${createHash('sha256').update(up).digest('hex')}`)
  assert.equal(big.body.length, 3 * 1024 * 1024)

  const head = await h2Request(session, { ':method': 'HEAD', ':path': '/h?size=500', ':authority': 'h2.test' })
  assert.equal(head.status, 200)
  assert.equal(head.headers['content-length'], '500')
  assert.equal(head.body.length, 0)

  // The same port still speaks HTTP/1.1 to clients without the preface.
  const h1 = await rawRequest(port, 'GET /plain?size=3 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n')
  h1.socket.destroy()
  assert.equal(h1.status, 200)
  assert.equal(h1.body.toString(), 'zzz')
})

test('TLS listeners negotiate HTTP/2 by ALPN: curl --http2, SNI certificates, 421 on a Host the SNI certificate does not cover', async (t) => {
  const pki = createPki(t)
  const a = pki.issue('a.test')
  const b = pki.issue('b.test')
  const backend = await startBackend(t, hashing('b1'))
  const port = await freePort()
  const proxy = await startProxy(t, {
    listen: [{ host: '127.0.0.1', port, tls: { cert: a.cert, key: a.key, certificates: [{ hosts: ['b.test'], cert: b.cert, key: b.key }] } }],
    upstreams: { app: { servers: [{ url: backend.url }] } },
    routes: [{ match: { path: '/' }, upstream: 'app' }]
  })

  const { stdout } = await run('curl', ['-s', '--http2', '--cacert', pki.ca, '--resolve', `b.test:${port}:127.0.0.1`,
    '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `https://b.test:${port}/c?size=10`])
  assert.equal(stdout, '2 200')

  const session = await h2Connect(`https://127.0.0.1:${port}`, { ca: pki.ca, servername: 'b.test' })
  t.after(() => { session.destroy() })
  assert.equal(session.alpnProtocol, 'h2')
  const ok = await h2Request(session, { ':path': '/x?size=4', ':authority': `b.test:${port}` })
  assert.equal(ok.status, 200)
  assert.equal(ok.headers['x-host'], `b.test:${port}`)
  // Domain fronting: the SNI chose b.test's certificate, the request names a.test.
  const fronted = await h2Request(session, { ':path': '/x', ':authority': `a.test:${port}` })
  assert.equal(fronted.status, 421)

  // The access line says which protocol the client spoke.
  const line = await waitFor(() => proxy.logs.find((l) => l.kind === 'access' && l.path === '/x' && l.status === 200), 'access line')
  assert.equal(line.proto, 'h2')
})

/** A PROXY protocol v2 header (haproxy.org proxy-protocol.txt §2.2): PROXY, TCP over IPv4, `src`:4000 → 127.0.0.1:`port`. */
function proxyV2 (src: string, port: number): Buffer {
  const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
  const addr = Buffer.from([...src.split('.').map(Number), 127, 0, 0, 1, 0x0f, 0xa0, port >> 8, port & 255])
  return Buffer.concat([sig, Buffer.from([0x21, 0x11, 0, addr.length]), addr])
}

/** A TCP connection that has sent `header` (in pieces of `piece` bytes, a moment apart), ready for what follows. */
async function tcpAfter (port: number, header: Buffer, piece = header.length): Promise<Socket> {
  const socket = netConnect(port, '127.0.0.1')
  await once(socket, 'connect')
  for (let i = 0; i < header.length; i += piece) {
    socket.write(header.subarray(i, i + piece))
    if (i + piece < header.length) await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return socket
}

test('PROXY v2 on node-engine listeners: a trusted peer\'s header names the client over HTTP/1.1, h2c and TLS (h2 and HTTP/1.1); an untrusted claim is dropped; a broken header closes', async (t) => {
  const pki = createPki(t)
  const cert = pki.issue('p.test')
  const paths: string[] = []
  const backend = await startBackend(t, (req, res) => { paths.push(req.url ?? ''); echo('b1')(req, res) })
  const [plain, secure, untrusted] = [await freePort(), await freePort(), await freePort()]
  const proxy = await startProxy(t, {
    listen: [
      { host: '127.0.0.1', port: plain, engine: 'node', h2c: true },
      { host: '127.0.0.1', port: secure, tls: { cert: cert.cert, key: cert.key } },
      // The same listener kind, reached from an address that is not in trusted_proxies.
      { host: '127.0.0.2', port: untrusted, engine: 'node', h2c: true }
    ],
    trusted_proxies: ['127.0.0.1'],
    upstreams: { app: { servers: [{ url: backend.url }] } },
    routes: [{ match: { path: '/only-client/' }, upstream: 'app', allow: ['203.0.113.7'] }, { match: { path: '/' }, upstream: 'app' }],
    log: { access: false }
  })
  const forwardedFor = (body: string): string => (JSON.parse(body) as { headers: Record<string, string> }).headers['x-forwarded-for']!
  const http1 = async (socket: Socket | TLSSocket, path: string): Promise<{ status: number, body: string }> => {
    socket.write(`GET ${path} HTTP/1.1\r\nHost: p.test\r\nX-Forwarded-For: 198.51.100.1\r\nConnection: close\r\n\r\n`)
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    await once(socket, 'close')
    const text = Buffer.concat(chunks).toString('latin1')
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) }
  }

  // HTTP/1.1, the header whole, then in pieces of 5 bytes (a load balancer's write may be split).
  for (const piece of [28, 5]) {
    const r = await http1(await tcpAfter(plain, proxyV2('203.0.113.7', plain), piece), '/who')
    assert.equal(r.status, 200, `pieces of ${piece}`)
    assert.equal(forwardedFor(r.body), '203.0.113.7', 'the client the load balancer named; its own chain is not trusted')
  }
  assert.equal((await http1(await tcpAfter(plain, proxyV2('203.0.113.7', plain)), '/only-client/x')).status, 200, 'an allow list naming the client admits it')
  assert.equal((await http1(await tcpAfter(plain, Buffer.alloc(0)), '/only-client/x')).status, 403, 'the load balancer itself is not the client')
  assert.equal(forwardedFor((await http1(await tcpAfter(plain, Buffer.alloc(0)), '/who')).body), '198.51.100.1, 127.0.0.1', 'without a header, a trusted peer\'s chain is appended to')

  // h2c with prior knowledge behind the header.
  const h2cSession = connect(`http://127.0.0.1:${plain}`, {
    createConnection: () => { const s = netConnect(plain, '127.0.0.1'); s.write(proxyV2('203.0.113.8', plain)); return s }
  })
  t.after(() => { h2cSession.destroy() })
  const viaH2c = await h2Request(h2cSession, { ':path': '/who', ':authority': 'p.test', 'x-forwarded-for': '198.51.100.1' })
  assert.equal(viaH2c.status, 200)
  assert.equal(forwardedFor(viaH2c.body.toString()), '203.0.113.8')

  // TLS: the header comes before the handshake. HTTP/2 by ALPN, then HTTP/1.1.
  const overTls = (socket: Socket, alpn: string): TLSSocket => tlsConnect({ socket, servername: 'p.test', ca: readFileSync(pki.ca), ALPNProtocols: [alpn] })
  const tlsH2 = connect(`https://p.test:${secure}`, {
    createConnection: () => { const s = netConnect(secure, '127.0.0.1'); s.write(proxyV2('203.0.113.9', secure)); return overTls(s, 'h2') }
  })
  t.after(() => { tlsH2.destroy() })
  const viaH2 = await h2Request(tlsH2, { ':path': '/who', ':authority': 'p.test', 'x-forwarded-for': '198.51.100.1' })
  assert.equal(viaH2.status, 200)
  assert.equal(forwardedFor(viaH2.body.toString()), '203.0.113.9')
  const tls1 = overTls(await tcpAfter(secure, proxyV2('203.0.113.10', secure)), 'http/1.1')
  await once(tls1, 'secureConnect')
  const viaTls1 = await http1(tls1, '/who')
  assert.equal(viaTls1.status, 200)
  assert.equal(forwardedFor(viaTls1.body), '203.0.113.10')

  // From a peer not in trusted_proxies the header is taken off and its claim ignored: the real peer counts.
  const spoof = netConnect({ port: untrusted, host: '127.0.0.2', localAddress: '127.0.0.3' })
  await once(spoof, 'connect')
  spoof.write(proxyV2('203.0.113.7', untrusted))
  const spoofed = await http1(spoof, '/who')
  assert.equal(spoofed.status, 200)
  assert.equal(forwardedFor(spoofed.body), '127.0.0.3', 'the real peer, and the client\'s own chain replaced')

  // A header that breaks the format (version 3) closes the connection unanswered; nothing reaches the backend.
  const bad = proxyV2('203.0.113.7', plain)
  bad[12] = 0x31
  const broken = await rawUntilClose(plain, Buffer.concat([bad, Buffer.from('GET /broken HTTP/1.1\r\nHost: p.test\r\n\r\n')]))
  assert.equal(broken.closed, true)
  assert.equal(broken.text, '')
  assert.equal(paths.includes('/broken'), false)
  assert.equal(proxy.process.exitCode, null)
})

test('a head trickling in on an h2c listener is cut with 408 at 10 s, as on a plain node listener (slowloris)', async (t) => {
  const backend = await startBackend(t, echo('b1'))
  const port = await freePort()
  await startProxy(t, config(port, backend.url))
  const socket = netConnect(port, '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  let text = ''
  socket.on('data', (d: Buffer) => { text += d.toString('latin1') })
  socket.write('GET /slow HTTP/1.1\r\nHost: a.test\r\n')
  const trickle = setInterval(() => { socket.write('X-Slow: s\r\n') }, 500)
  t.after(() => { clearInterval(trickle); socket.destroy() })
  const closed = once(socket, 'close').then(() => true)
  const gaveUp = new Promise<false>((resolve) => setTimeout(() => { resolve(false) }, 14_000))
  assert.equal(await Promise.race([closed, gaveUp]), true, 'still open after 14 s')
  assert.match(text, /^HTTP\/1\.1 408 /)
})

test('h2load drives HTTP/2 through Switchyard, cleartext (h2c) and over TLS (ALPN h2): every request succeeds', async (t) => {
  const pki = createPki(t)
  const cert = pki.issue('h2.test')
  const backend = await startBackend(t, hashing('b1'))
  const [plain, secure] = [await freePort(), await freePort()]
  await startProxy(t, {
    listen: [{ host: '127.0.0.1', port: plain, h2c: true }, { host: '127.0.0.1', port: secure, tls: { cert: cert.cert, key: cert.key } }],
    upstreams: { app: { servers: [{ url: backend.url }] } },
    routes: [{ match: { path: '/' }, upstream: 'app' }],
    log: { access: false }
  })
  for (const url of [`http://127.0.0.1:${plain}/load?size=100`, `https://127.0.0.1:${secure}/load?size=100`]) {
    // 4 connections × 8 streams, 800 requests; h2load does not check the certificate.
    const { stdout } = await run('h2load', ['-n', '800', '-c', '4', '-m', '8', url], { timeout: 60_000 })
    t.diagnostic(`${url}: ${/finished in [^\n]*/.exec(stdout)?.[0] ?? stdout}`)
    assert.match(stdout, /Application protocol: (h2|h2c)/, stdout)
    assert.match(stdout, /requests: 800 total, 800 started, 800 done, 800 succeeded, 0 failed, 0 errored, 0 timeout/, stdout)
    assert.match(stdout, /status codes: 800 2xx, 0 3xx, 0 4xx, 0 5xx/, stdout)
  }
})
