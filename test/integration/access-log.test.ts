// The access line's combined-format fields through a real proxy, the W3C traceparent (kept when valid, started
// otherwise, forwarded to the backend and logged), and `log.access` naming a file that SIGUSR1 reopens (logrotate).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, renameSync, existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startBackend, startProxy, request, waitFor, echo } from '../helpers/index.ts'

const VALID = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
const TRACE = /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/

function lines (file: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
}

test('access lines in a file: host, query, user agent, referer, request bytes, ttfb, traceparent; SIGUSR1 reopens the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'swy-access-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'logs', 'access.log')
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, { log: { access: file }, upstreams: { web: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'web' }] })
  const seen = async (path: string, headers: Record<string, string>, body?: string): Promise<{ sent: Record<string, string>, line: Record<string, unknown> }> => {
    const res = await request(`${proxy.url}${path}`, { headers, ...(body === undefined ? {} : { method: 'POST', body }) })
    assert.equal(res.status, 200)
    const sent = (JSON.parse(res.body) as { headers: Record<string, string> }).headers
    const line = await waitFor(() => lines(file).find((l) => l.reqId === res.headers['x-request-id']), 'the access line in the file')
    return { sent, line }
  }

  // No traceparent: one is started, sent to the backend and logged.
  const a = await seen('/a?x=1&y=%22', { 'user-agent': 'curl/8.0', referer: 'https://example.com/r' }, 'hello')
  assert.match(a.sent.traceparent ?? '', TRACE)
  assert.equal(a.line.traceparent, a.sent.traceparent)
  assert.equal(a.line.host, `127.0.0.1:${proxy.port}`)
  assert.equal(a.line.path, '/a')
  assert.equal(a.line.query, 'x=1&y=%22')
  assert.equal(a.line.userAgent, 'curl/8.0')
  assert.equal(a.line.referer, 'https://example.com/r')
  assert.equal(typeof a.line.ttfbMs, 'number')
  // The head (request line and fields) plus the 5 body bytes.
  assert.ok(typeof a.line.requestBytes === 'number' && a.line.requestBytes > 60 + 5, String(a.line.requestBytes))
  // A valid one is kept; an invalid one (all-zero trace id) is replaced.
  const b = await seen('/b', { traceparent: VALID })
  assert.equal(b.sent.traceparent, VALID)
  assert.equal(b.line.traceparent, VALID)
  const c = await seen('/c', { traceparent: '00-00000000000000000000000000000000-b7ad6b7169203331-01' })
  assert.match(c.sent.traceparent ?? '', TRACE)
  assert.notEqual(c.sent.traceparent, '00-00000000000000000000000000000000-b7ad6b7169203331-01')
  // Nothing of this went to stdout.
  assert.equal(proxy.logs.filter((l) => l.kind === 'access').length, 0)

  // logrotate: move the file away, signal the primary; new lines go to a new file at the configured path.
  renameSync(file, `${file}.1`)
  process.kill(proxy.process.pid!, 'SIGUSR1')
  await waitFor(() => proxy.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('SIGUSR1')), 'the primary passing SIGUSR1 on')
  // The worker may get the signal a moment after the primary logged it: send until a line lands in the new file.
  await waitFor(async () => { await request(`${proxy.url}/after`); return lines(file).some((l) => l.path === '/after') }, 'a line in the reopened file', 10_000, 200)
  assert.equal(lines(`${file}.1`).filter((l) => l.path === '/a' || l.path === '/b' || l.path === '/c').length, 3)
  assert.ok(proxy.process.exitCode === null, 'the primary is still running (SIGUSR1 did not kill it or open an inspector)')
})
