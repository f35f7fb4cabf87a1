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

test('a PROXY v2 header on a node-engine listener is not read: the request is refused and reaches no backend', async (t) => {
  let seen = 0
  const backend = await startBackend(t, (req, res) => { seen++; echo('b1')(req, res) })
  const port = await freePort()
  await startProxy(t, { ...config(port, backend.url), trusted_proxies: ['127.0.0.1'] })
  // TCP over IPv4, 203.0.113.7:4000 → 127.0.0.1:port (haproxy.org proxy-protocol.txt §2.2).
  const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
  const addr = Buffer.from([203, 0, 113, 7, 127, 0, 0, 1, 0x0f, 0xa0, port >> 8, port & 255])
  const header = Buffer.concat([sig, Buffer.from([0x21, 0x11, 0, addr.length]), addr])
  const r = await rawUntilClose(port, Buffer.concat([header, Buffer.from('GET /claimed HTTP/1.1\r\nHost: a.test\r\n\r\n')]))
  assert.equal(r.closed, true)
  assert.match(r.text, /^HTTP\/1\.1 400 /)
  assert.match(r.text, /"error":"SWY_BAD_REQUEST"/)
  assert.equal(seen, 0)
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
