// The request limits that moved from the engine to Switchyard with uWebSockets.js 20.57, over raw sockets against a
// real proxy: any RFC 9110 method token (PURGE reaches the backend where the engine lets it), the Host value
// (RFC 9112 §3.2), limits.max_headers, limits.max_header_size and limits.body_timeout. Where the two engines differ,
// each case says what each one does (test/helpers/engine.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { startBackend, startProxy, type ProxyHandle } from '../helpers/index.ts'
import { byEngine, byListener } from '../helpers/engine.ts'

interface RawAnswer {
  readonly status: number | undefined
  readonly head: string
  readonly body: string
  /** The proxy closed the connection within the wait. */
  readonly closed: boolean
}

/** Writes `data`, then reads for up to `waitMs`, or until the proxy closes. */
async function raw (port: number, data: string, waitMs = 3000): Promise<RawAnswer> {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  socket.write(data)
  let got = ''
  socket.on('data', (d: Buffer) => { got += d.toString('latin1') })
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => { resolve(false) }, waitMs)
    socket.once('close', () => { clearTimeout(timer); resolve(true) })
  })
  socket.destroy()
  const end = got.indexOf('\r\n\r\n')
  const head = end < 0 ? got : got.slice(0, end)
  return { status: got === '' ? undefined : Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1]), head, body: end < 0 ? '' : got.slice(end + 4), closed }
}

interface Seen { method: string, url: string, host: string | undefined, complete: boolean }

async function setup (t: Parameters<typeof startProxy>[0], limits: Record<string, unknown>, hold = false): Promise<{ proxy: ProxyHandle, seen: Seen[] }> {
  const seen: Seen[] = []
  const backend = await startBackend(t, (req: IncomingMessage, res: ServerResponse) => {
    const s: Seen = { method: req.method!, url: req.url!, host: req.headers.host, complete: false }
    seen.push(s)
    const read = (): void => {
      req.on('data', () => {})
      req.on('end', () => { s.complete = true; res.end(`${req.method!} ok`) })
    }
    req.on('error', () => {})
    if (hold) setTimeout(read, 3000)
    else read()
  })
  const proxy = await startProxy(t, { upstreams: { a: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'a' }], limits, log: { access: false } })
  return { proxy, seen }
}

const req = (line: string, headers = 'Host: app.test\r\n', body = ''): string => `${line}\r\n${headers}\r\n${body}`

test('methods: any RFC 9110 token the config admits reaches the backend where the engine passes it; others 405 or 400', async (t) => {
  const { proxy, seen } = await setup(t, { methods: ['GET', 'PURGE'] })

  const purge = await raw(proxy.port, req('PURGE /p HTTP/1.1'), 1500)
  const passes = (): void => { assert.equal(purge.status, 200, purge.head); assert.equal(purge.body, 'PURGE ok') }
  byListener({
    // 20.30 routes nine upper-case methods only and closes on anything else, with no answer.
    '20.30': () => { assert.equal(purge.status, undefined); assert.equal(purge.closed, true) },
    '20.57': passes,
    // node's parser knows PURGE (and WebDAV's methods) among its fixed list.
    node: passes
  })()
  assert.deepEqual(seen.filter((s) => s.url === '/p').map((s) => s.method), byListener({ '20.30': [], '20.57': ['PURGE'], node: ['PURGE'] }))

  const del = await raw(proxy.port, req('DELETE /d HTTP/1.1'), 1000)
  assert.equal(del.status, 405)
  assert.match(del.head, /\r\nallow: GET, PURGE(\r\n|$)/i)

  // Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET.
  const lower = await raw(proxy.port, req('get /l HTTP/1.1'), 1500)
  // node's parser refuses a method outside its list: 400 before the guard.
  assert.equal(lower.status, byListener({ '20.30': undefined, '20.57': 405, node: 400 }), lower.head)

  // Not a token at all: 20.57 hands it over as the method; the guard refuses it and closes.
  const bad = await raw(proxy.port, req('G@T /b HTTP/1.1'), 1500)
  assert.equal(bad.status, byListener({ '20.30': undefined, '20.57': 400, node: 400 }), bad.head)
  assert.equal(bad.closed, true)
  assert.deepEqual(seen.filter((s) => s.url !== '/p').map((s) => s.url), [], 'nothing else reached the backend')
})

test('Host: a value that is not a host[:port] is 400 SWY_BAD_REQUEST and never forwarded; valid forms go through', async (t) => {
  const { proxy, seen } = await setup(t, {})
  for (const host of ['exa mple.test', 'app.test/evil', 'user@app.test', 'app.test:80x', '[::1', 'app.test:80:81', 'ex"ample.test']) {
    const r = await raw(proxy.port, req('GET /bad HTTP/1.1', `Host: ${host}\r\n`))
    assert.equal(r.status, 400, `${host}: ${r.head}`)
    assert.match(r.body, /"error":"SWY_BAD_REQUEST"/, host)
    assert.equal(r.closed, true, host)
  }
  for (const host of ['app.test', 'app.test:8080', '127.0.0.1', '[::1]:8080', 'xn--bcher-kva.example']) {
    const r = await raw(proxy.port, req('GET /good HTTP/1.1', `Host: ${host}\r\nConnection: close\r\n`))
    assert.equal(r.status, 200, `${host}: ${r.head}`)
  }
  assert.deepEqual(seen.map((s) => [s.url, s.host]), [['/good', 'app.test'], ['/good', 'app.test:8080'], ['/good', '127.0.0.1'], ['/good', '[::1]:8080'], ['/good', 'xn--bcher-kva.example']])
})

test('max_headers: more header lines than the limit is 431 SWY_HEADERS_TOO_LARGE and a close', async (t) => {
  const { proxy, seen } = await setup(t, { max_headers: 20 })
  const lines = (n: number): string => Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join('')
  const ok = await raw(proxy.port, req('GET /twenty HTTP/1.1', `Host: app.test\r\n${lines(19)}`), 1000)
  assert.equal(ok.status, 200, ok.head)
  const over = await raw(proxy.port, req('GET /over HTTP/1.1', `Host: app.test\r\n${lines(20)}`))
  assert.equal(over.status, 431, over.head)
  assert.match(over.body, /"error":"SWY_HEADERS_TOO_LARGE"/)
  assert.equal(over.closed, true)
  assert.deepEqual(seen.map((s) => s.url), ['/twenty'])
})

test('max_header_size: a head over it is 431 and a close, from the engine on 20.57 and from the guard on 20.30', async (t) => {
  const { proxy, seen } = await setup(t, { max_header_size: '2kb' })
  const small = await raw(proxy.port, req('GET /small HTTP/1.1', `Host: app.test\r\nX-Pad: ${'p'.repeat(1500)}\r\n`), 1000)
  assert.equal(small.status, 200, small.head)
  const big = await raw(proxy.port, req('GET /big HTTP/1.1', `Host: app.test\r\nX-Pad: ${'p'.repeat(3000)}\r\n`))
  assert.equal(big.status, 431, big.head)
  assert.equal(big.closed, true)
  // 20.57 answers itself (it got the limit as UWS_HTTP_MAX_HEADERS_SIZE); 20.30 hands the head over in one read; node's
  // parser stops at maxHeaderSize and Switchyard answers.
  assert.match(big.body, byListener({ '20.30': /"error":"SWY_HEADERS_TOO_LARGE"/, '20.57': /Request Header Fields Too Large/, node: /"error":"SWY_HEADERS_TOO_LARGE"/ }))
  assert.deepEqual(seen.map((s) => s.url), ['/small'])
})

test('body_timeout: a body that stalls is 408 SWY_REQUEST_TIMEOUT, the connection closes, the backend request is aborted', async (t) => {
  const { proxy, seen } = await setup(t, { body_timeout: '1s' })
  // Well before either engine's own cut (about 12 s on 20.30, 32 s on 20.57).
  const r = await raw(proxy.port, req('POST /stall HTTP/1.1', 'Host: app.test\r\nContent-Length: 10\r\n', 'hello'), 8000)
  assert.equal(r.status, 408, r.head)
  assert.match(r.body, /"error":"SWY_REQUEST_TIMEOUT"/)
  assert.equal(r.closed, true)
  assert.deepEqual(seen.map((s) => [s.url, s.complete]), [['/stall', false]], 'the backend saw the request start and never complete')
})

test('body_timeout: time the proxy holds a body back for a slow backend does not count', async (t) => {
  // The backend reads nothing for 3 s: once the socket buffers on both sides are full, the proxy pauses the client.
  // 32 MB is well past what loopback's buffers take.
  const { proxy, seen } = await setup(t, { body_timeout: '1s', max_body: '64mb' }, true)
  const size = 32 * 1024 * 1024
  const r = await raw(proxy.port, req('POST /held HTTP/1.1', `Host: app.test\r\nContent-Length: ${size}\r\nConnection: close\r\n`, 'b'.repeat(size)), 15_000)
  assert.equal(r.status, 200, r.head)
  assert.equal(r.body, 'POST ok')
  assert.deepEqual(seen.map((s) => [s.url, s.complete]), [['/held', true]])
})
