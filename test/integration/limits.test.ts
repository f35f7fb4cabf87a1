// Limits over real sockets: max_body by Content-Length (413 before any upstream request) and counted mid-stream for
// chunked bodies (413, close, and the backend never sees a complete request); per-route overrides; the method
// allowlist (405 with Allow); the per-address in-flight cap; the per-address connection cap from the socket table.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { startBackend, startProxy, echo, request, rawRequest, headerValues, closedWithin, waitFor } from '../helpers/index.ts'

interface Seen { started: number, completed: number, aborted: number, bytes: number }

/** A backend that reads each body to its end and counts complete and aborted requests. */
function counting (seen: Seen): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    seen.started++
    let n = 0
    req.on('data', (c: Buffer) => { n += c.length; seen.bytes += c.length })
    req.on('end', () => { seen.completed++; res.end(`got ${n}`) })
    req.on('close', () => { if (!req.complete) seen.aborted++ })
    req.on('error', () => {})
  }
}

function body (json: string): { error: string } {
  return JSON.parse(json) as { error: string }
}

/** One chunk of a chunked body: `n` bytes of `y`. */
const chunk = (n: number): string => `${n.toString(16)}\r\n${'y'.repeat(n)}\r\n`

/**
 * A proxy with `max_body: 4kb` in front of `backendUrl`, and a raw socket that has sent the head of a chunked POST
 * and its first 3000 bytes; `got()` is what the socket has received so far.
 */
async function chunkedUpload (t: Parameters<typeof startProxy>[0], backendUrl: string): Promise<{ port: number, socket: Socket, got: () => string }> {
  const proxy = await startProxy(t, {
    upstreams: { web: { servers: [{ url: backendUrl }] } },
    limits: { max_body: '4kb' },
    routes: [{ upstream: 'web' }],
    log: { access: false }
  })
  const socket = connect(proxy.port, '127.0.0.1')
  let received = ''
  socket.on('data', (d: Buffer) => { received += d.toString('latin1') })
  socket.on('error', () => {})
  socket.write(`POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(3000)}`)
  return { port: proxy.port, socket, got: () => received }
}

test('max_body: a Content-Length over the limit gets 413 and a close, before any upstream request', async (t) => {
  const seen: Seen = { started: 0, completed: 0, aborted: 0, bytes: 0 }
  const backend = await startBackend(t, counting(seen))
  const proxy = await startProxy(t, {
    upstreams: { web: { servers: [{ url: backend.url }] } },
    limits: { max_body: '1kb' },
    routes: [{ match: { path: '/big/' }, upstream: 'web', limits: { max_body: '64kb' } }, { upstream: 'web' }],
    log: { access: false }
  })
  // Only the head and a few body bytes are sent: the answer cannot wait for the body.
  const r = await rawRequest(proxy.port, 'POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1025\r\n\r\nabc')
  assert.equal(r.status, 413)
  assert.equal(body(r.body.toString()).error, 'SWY_REQUEST_TOO_LARGE')
  assert.deepEqual(headerValues(r, 'connection'), ['close'])
  assert.equal(await closedWithin(r.socket, 5000), true)
  r.socket.destroy()
  // At the limit exactly, and a route's own larger limit.
  assert.equal((await request(`${proxy.url}/up`, { method: 'POST', body: 'x'.repeat(1024) })).body, 'got 1024')
  assert.equal((await request(`${proxy.url}/big/x`, { method: 'POST', body: 'x'.repeat(60_000) })).body, 'got 60000')
  assert.equal((await request(`${proxy.url}/big/x`, { method: 'POST', body: 'x'.repeat(65_537) })).status, 413)
  assert.equal(seen.started, 2, 'refused requests never reached the backend')
})

test('max_body: a chunked body growing past the limit gets 413 and a close, and the backend sees an aborted request', async (t) => {
  const seen: Seen = { started: 0, completed: 0, aborted: 0, bytes: 0 }
  const backend = await startBackend(t, counting(seen))
  const { port, socket, got } = await chunkedUpload(t, backend.url)
  // The backend has the request and its first bytes: the upstream request is under way.
  await waitFor(() => seen.started === 1 && seen.bytes >= 3000, 'the backend to receive the first chunk')
  socket.write(chunk(3000))
  assert.equal(await closedWithin(socket, 5000), true, 'the proxy closed the connection')
  assert.match(got(), /^HTTP\/1\.1 413 /)
  assert.match(got(), /SWY_REQUEST_TOO_LARGE/)
  assert.match(got(), /\r\nconnection: close\r\n/i)
  await waitFor(() => seen.aborted === 1, 'the backend to see the request aborted')
  assert.equal(seen.completed, 0, 'the backend never saw a complete request')
  assert.ok(seen.bytes <= 4096, `the backend got at most max_body bytes (${seen.bytes})`)
  socket.destroy()
  // A chunked body within the limit still goes through whole.
  const ok = await rawRequest(port, `POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(2000)}${chunk(2096)}0\r\n\r\n`)
  assert.equal(ok.body.toString(), 'got 4096')
  ok.socket.destroy()
})

test('max_body: past the limit after the backend began its answer, the client connection is cut (never a complete-looking answer)', async (t) => {
  const seen: Seen = { started: 0, completed: 0, aborted: 0, bytes: 0 }
  const backend = await startBackend(t, (req, res) => {
    seen.started++
    req.on('data', (c: Buffer) => { seen.bytes += c.length })
    req.on('end', () => { seen.completed++; res.end('done') })
    req.on('close', () => { if (!req.complete) seen.aborted++ })
    req.on('error', () => {})
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('early ')
  })
  const { socket, got } = await chunkedUpload(t, backend.url)
  await waitFor(() => got().includes('early '), 'the start of the backend\'s answer')
  socket.write(chunk(3000))
  assert.equal(await closedWithin(socket, 5000), true, 'the proxy cut the connection')
  assert.match(got(), /^HTTP\/1\.1 200 /)
  assert.ok(!got().includes('\r\n0\r\n\r\n'), `the chunked answer was never terminated: ${JSON.stringify(got())}`)
  await waitFor(() => seen.aborted === 1, 'the backend to see the request aborted')
  assert.equal(seen.completed, 0)
  socket.destroy()
})

test('methods: a route\'s allowlist answers 405 with Allow; other routes fall back to the top level', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, {
    upstreams: { web: { servers: [{ url: backend.url }] } },
    limits: { methods: ['get', 'head', 'post'] },
    routes: [
      { match: { path: '/ro/' }, upstream: 'web', limits: { methods: ['GET', 'HEAD'] } },
      { upstream: 'web' }
    ],
    log: { access: false }
  })
  const cases: Array<{ name: string, method: string, path: string, status: number, allow?: string }> = [
    { name: 'GET on the read-only route', method: 'GET', path: '/ro/x', status: 200 },
    { name: 'HEAD on the read-only route', method: 'HEAD', path: '/ro/x', status: 200 },
    { name: 'POST on the read-only route', method: 'POST', path: '/ro/x', status: 405, allow: 'GET, HEAD' },
    { name: 'DELETE on the read-only route', method: 'DELETE', path: '/ro/x', status: 405, allow: 'GET, HEAD' },
    { name: 'POST on the default route', method: 'POST', path: '/x', status: 200 },
    { name: 'PUT on the default route (not in the top-level list)', method: 'PUT', path: '/x', status: 405, allow: 'GET, HEAD, POST' }
  ]
  for (const c of cases) {
    const r = await request(`${proxy.url}${c.path}`, { method: c.method })
    assert.equal(r.status, c.status, c.name)
    if (c.allow !== undefined) {
      assert.equal(r.headers.allow, c.allow, c.name)
      assert.equal(body(r.body).error, 'SWY_METHOD_NOT_ALLOWED', c.name)
    }
  }
})

test('max_inflight_per_ip: the next request from a busy address gets 429; other addresses and freed slots pass', async (t) => {
  const held: ServerResponse[] = []
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/hold') held.push(res)
    else res.end('quick')
  })
  const proxy = await startProxy(t, {
    workers: 1,
    upstreams: { web: { servers: [{ url: backend.url }] } },
    limits: { max_inflight_per_ip: 2 },
    routes: [{ upstream: 'web' }],
    log: { access: false }
  })
  const a = request(`${proxy.url}/hold`, { localAddress: '127.0.0.1' })
  const b = request(`${proxy.url}/hold`, { localAddress: '127.0.0.1' })
  await waitFor(() => held.length === 2, 'two requests held at the backend')
  const refused = await request(`${proxy.url}/quick`, { localAddress: '127.0.0.1' })
  assert.equal(refused.status, 429)
  assert.equal(body(refused.body).error, 'SWY_CLIENT_INFLIGHT_LIMIT')
  assert.equal((await request(`${proxy.url}/quick`, { localAddress: '127.0.0.2' })).body, 'quick', 'another address is not affected')
  held.shift()!.end('released')
  assert.equal((await a).body, 'released')
  assert.equal((await request(`${proxy.url}/quick`, { localAddress: '127.0.0.1' })).body, 'quick', 'a finished request freed its slot')
  held.shift()!.end('released')
  await b
})

test('max_connections_per_ip: an address holding more connections than the cap gets 429 and a close until it is back under', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, {
    workers: 2,
    upstreams: { web: { servers: [{ url: backend.url }] } },
    limits: { max_connections_per_ip: 3 },
    routes: [{ upstream: 'web' }],
    log: { access: false }
  })
  const idle: Socket[] = []
  t.after(() => { for (const s of idle) s.destroy() })
  for (let i = 0; i < 4; i++) {
    const s = connect({ port: proxy.port, host: '127.0.0.1', localAddress: '127.0.0.7' })
    s.on('error', () => {})
    await once(s, 'connect')
    idle.push(s)
  }
  // 4 idle connections, plus the request's own: over 3. Each worker counts about once a second, on its own clock,
  // so poll until a keep-alive request is refused; it is answered with Connection: close and the connection closes.
  const refused = await waitFor(async () => {
    const s = connect({ port: proxy.port, host: '127.0.0.1', localAddress: '127.0.0.7' })
    let text = ''
    s.on('data', (d: Buffer) => { text += d.toString('latin1') })
    s.on('error', () => {})
    s.write('GET /x HTTP/1.1\r\nHost: a\r\n\r\n')
    await waitFor(() => text.includes('\r\n\r\n') && (text.startsWith('HTTP/1.1 200') ? text.endsWith('}') : true), 'an answer', 5000, 10)
    if (!text.startsWith('HTTP/1.1 429')) { s.destroy(); return undefined }
    return { text, closed: await closedWithin(s, 5000) }
  }, 'a request from the address over the cap to be refused')
  assert.match(refused.text, /\r\nconnection: close\r\n/i)
  assert.match(refused.text, /SWY_CLIENT_CONNECTION_LIMIT/)
  assert.equal(refused.closed, true)
  assert.equal((await request(`${proxy.url}/x`, { localAddress: '127.0.0.8' })).status, 200, 'another address is not affected')
  for (const s of idle) s.destroy()
  await waitFor(async () => (await request(`${proxy.url}/x`, { localAddress: '127.0.0.7' })).status === 200, 'the address to be admitted again')
})
