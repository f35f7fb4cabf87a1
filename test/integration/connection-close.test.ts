// A client that asks to close is told so (RFC 9112 §9.6): uWS closes the connection after answering a request that
// said `Connection: close` but writes no `Connection: close` itself, so a keep-alive Agent put the socket back in its
// pool and the next request on it got ECONNRESET. Every kind of answer is checked byte for byte, then exactly that
// client runs 64 loops for 10 s, and again through 10 reloads.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { startBackend, startProxy } from '../helpers/index.ts'
import { LISTENER } from '../helpers/engine.ts'
import type { ReloadBenchResult } from '../../bench/reload/run.ts'

const RELOAD_BENCH = fileURLToPath(new URL('../../bench/reload/run.js', import.meta.url))

/**
 * Writes `data`, reads until the proxy closes the connection; the head's status and Connection values. With
 * `clientEnds`, the client ends its side once a whole answer arrived, as RFC 9112 §9.6 tells a client that sent
 * `close` to do, and the proxy must then close too.
 */
async function untilClosed (port: number, data: string, clientEnds = false): Promise<{ status: number, connection: string[], raw: string }> {
  const socket = connect(port, '127.0.0.1')
  socket.write(data)
  let raw = ''
  socket.on('data', (d: Buffer) => {
    raw += d.toString('latin1')
    const end = raw.indexOf('\r\n\r\n')
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(raw)?.[1] ?? 0)
    if (clientEnds && end >= 0 && raw.length >= end + 4 + length) socket.end()
  })
  const timer = setTimeout(() => { socket.destroy(new Error(`still open after 5 s; got ${JSON.stringify(raw)}`)) }, 5000)
  try {
    await once(socket, 'end')
  } finally {
    clearTimeout(timer)
    socket.destroy()
  }
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'))
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1])
  const connection = head.split('\r\n').slice(1).filter((l) => /^connection:/i.test(l)).map((l) => l.slice(11).trim().toLowerCase())
  return { status, connection, raw }
}

const cases: Array<{ name: string, request: (host: string) => string, status: number, clientEnds?: boolean }> = [
  { name: 'proxied, known length', request: (h) => `GET /len HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`, status: 200 },
  { name: 'proxied, chunked', request: (h) => `GET /chunked HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`, status: 200 },
  { name: 'proxied, empty body', request: (h) => `GET /empty HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`, status: 200 },
  { name: 'proxied HEAD', request: (h) => `HEAD /len HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`, status: 200 },
  { name: 'proxied 204', request: (h) => `GET /204 HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`, status: 204 },
  { name: 'proxied 304', request: (h) => `GET /304 HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`, status: 304 },
  { name: 'cache miss then hit (the hit path)', request: (h) => `GET /cached HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`, status: 200 },
  { name: 'local reply (404)', request: () => 'GET /nowhere HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n', status: 404 },
  { name: 'local reply to HEAD (404)', request: () => 'HEAD /nowhere HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n', status: 404 },
  { name: 'request with a body', request: (h) => `POST /len HTTP/1.1\r\nHost: ${h}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`, status: 200 },
  { name: 'Close, any case', request: (h) => `GET /len HTTP/1.1\r\nHost: ${h}\r\nConnection: Close\r\n\r\n`, status: 200 },
  // uWS does not read this as close (docs/engines.md): the answer still says close, and the client closes first.
  { name: 'close among other options', request: (h) => `GET /len HTTP/1.1\r\nHost: ${h}\r\nConnection: keep-alive, close\r\n\r\n`, status: 200, clientEnds: true },
  { name: 'close among other options, local reply', request: () => 'GET /nowhere HTTP/1.1\r\nHost: other.test\r\nConnection: keep-alive, close\r\n\r\n', status: 404 }
]

test('every answer to a request saying Connection: close says it too, once, and the connection closes', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume()
    if (req.url === '/chunked') { res.write('a'); res.end('b'); return }
    if (req.url === '/empty') { res.setHeader('content-length', '0'); res.end(); return }
    if (req.url === '/204') { res.writeHead(204); res.end(); return }
    if (req.url === '/304') { res.writeHead(304, { etag: '"x"' }); res.end(); return }
    if (req.url === '/cached') { res.setHeader('cache-control', 'max-age=60') }
    res.setHeader('content-length', '5')
    res.end('hello')
  })
  const proxy = await startProxy(t, {
    upstreams: { a: { servers: [{ url: backend.url }] } },
    routes: [{ match: { host: 'app.test', path: '/cached' }, upstream: 'a', cache: {} }, { match: { host: 'app.test' }, upstream: 'a' }]
  })
  for (const c of cases) {
    await t.test(c.name, async () => {
      const r = await untilClosed(proxy.port, c.request('app.test'), c.clientEnds)
      assert.equal(r.status, c.status, r.raw)
      assert.deepEqual(r.connection, ['close'], `Connection fields in ${JSON.stringify(r.raw.slice(0, 400))}`)
    })
  }
  // The hit itself (the first /cached was the miss that filled the entry).
  const hit = await untilClosed(proxy.port, cases.find((c) => c.name.startsWith('cache'))!.request('app.test'))
  assert.match(hit.raw, /\r\nx-cache: HIT\r\n/i)
  assert.deepEqual(hit.connection, ['close'])
  // Without the option the connection stays: uWS writes no Connection field, node (like nginx) says keep-alive.
  const s = connect(proxy.port, '127.0.0.1')
  t.after(() => { s.destroy() })
  s.write('GET /len HTTP/1.1\r\nHost: app.test\r\n\r\n')
  const [first] = await once(s, 'data') as [Buffer]
  const fields = [...first.toString('latin1').matchAll(/\r\nconnection: *([^\r]*)/gi)].map((m) => m[1]!.toLowerCase())
  assert.deepEqual(fields, LISTENER === 'node' ? ['keep-alive'] : [])
})

async function agentClose (args: readonly string[]): Promise<ReloadBenchResult['modes'][number] & { netns: boolean }> {
  const child = spawn(process.execPath, [RELOAD_BENCH, '--modes', 'agent-close', '--connections', '64', '--duration', '10', '--workers', '2', '--drain-timeout', '5s', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 90_000)
  const [code] = await once(child, 'close') as [number | null] // 'close': stdout read to its end
  clearTimeout(timer)
  const line = out.trim().split('\n').at(-1) ?? ''
  assert.ok(line.startsWith('{'), `the reload driver exited ${String(code)} without a result:\n${err.slice(-3000)}`)
  const r = JSON.parse(line) as ReloadBenchResult
  assert.equal(r.modes?.length, 1, err)
  return { ...r.modes[0]!, netns: r.netns }
}

test('a shared keep-alive http.Agent sending Connection: close from 64 loops for 10 s: no error', async (t) => {
  const m = await agentClose(['--reloads', '0'])
  t.diagnostic(`${m.requests} requests, ${m.failed} failed ${JSON.stringify(m.failures)}`)
  assert.ok(m.requests >= 1000, `only ${m.requests} requests`)
  assert.equal(m.failed, 0, JSON.stringify(m.failures))
})

test('the same client through 10 reloads: no error, no drain cut', async (t) => {
  // As root this runs in a private network namespace with tcp_migrate_req=1 (bench/reload/run.ts): every request
  // opens a new connection, and without the sysctl the kernel resets those queued on a closing listener.
  const m = await agentClose(['--reloads', '10'])
  t.diagnostic(`${m.requests} requests, ${m.failed} failed ${JSON.stringify(m.failures)}, generation ${m.generation}, netns ${String(m.netns)}`)
  assert.equal(m.reloadsFailed, 0)
  assert.equal(m.generation, 11)
  assert.ok(m.requests >= 1000, `only ${m.requests} requests`)
  assert.equal(m.failed, 0, JSON.stringify(m.failures))
  assert.equal(m.drainCuts, 0)
})
