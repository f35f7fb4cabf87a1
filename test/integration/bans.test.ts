// Bans on one Switchyard (embedded store, 2 workers): a client its rate limit keeps refusing is banned on every route
// with 403 SWY_BANNED and Retry-After until the ban expires, others are still served; `action: close` cuts the
// connection without an answer.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBackend, startProxy, echo, request, rawUntilClose, waitFor, type HttpResult } from '../helpers/index.ts'

const errorOf = (r: HttpResult): string | undefined => r.status >= 400 ? (JSON.parse(r.body) as { error?: string }).error : undefined

test('over the limit N times: banned on every route for `for`, other clients served, then served again', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, {
    workers: 2,
    upstreams: { web: { servers: [{ url: backend.url }] } },
    routes: [
      { match: { path: '/limited' }, upstream: 'web', rate_limit: { key: 'ip', rate: '1/m', burst: 1, ban: { after: 3, within: '1m', for: '3s' } } },
      { match: { path: '/' }, upstream: 'web' }
    ],
    log: { access: false }
  })
  const from = { localAddress: '127.0.0.2' }
  const seen: string[] = []
  // 1 admitted, then 429s until the ban lands (bounded), then 403 SWY_BANNED.
  await waitFor(async () => {
    const r = await request(`${proxy.url}/limited`, from)
    seen.push(String(r.status))
    return errorOf(r) === 'SWY_BANNED'
  }, 'the client to be banned', 10_000, 10)
  assert.equal(seen[0], '200')
  assert.ok(seen.filter((s) => s === '429').length >= 3, `statuses: ${seen.join(',')}`)
  const other = await request(`${proxy.url}/other`, from)
  assert.equal(other.status, 403)
  assert.equal(errorOf(other), 'SWY_BANNED')
  const retry = Number(other.headers['retry-after'])
  assert.ok(retry >= 1 && retry <= 3, `Retry-After ${String(other.headers['retry-after'])}`)
  // Every worker knows: several fresh connections (spread over both workers) are all refused.
  for (let i = 0; i < 6; i++) assert.equal((await request(`${proxy.url}/other`, from)).status, 403)
  assert.equal((await request(`${proxy.url}/other`, { localAddress: '127.0.0.3' })).status, 200, 'another client is served')
  await waitFor(async () => (await request(`${proxy.url}/other`, from)).status === 200, 'the ban to expire', 10_000, 100)
})

test('action close: a banned client (by header value) gets its connection closed with no response', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, {
    workers: 2,
    upstreams: { web: { servers: [{ url: backend.url }] } },
    routes: [
      { match: { path: '/api' }, upstream: 'web', rate_limit: { key: 'header:X-User', rate: '1/m', burst: 1, ban: { after: 2, action: 'close' } } },
      { match: { path: '/' }, upstream: 'web' }
    ],
    log: { access: false }
  })
  const bob = { headers: { 'x-user': 'bob' } }
  await waitFor(async () => {
    try {
      await request(`${proxy.url}/api`, bob)
      return false
    } catch {
      return true // the connection was cut
    }
  }, 'bob to be banned', 10_000, 10)
  const raw = await rawUntilClose(proxy.port, 'GET /elsewhere HTTP/1.1\r\nHost: x\r\nX-User: bob\r\n\r\n')
  assert.deepEqual(raw, { text: '', closed: true })
  assert.equal((await request(`${proxy.url}/elsewhere`, { headers: { 'x-user': 'alice' } })).status, 200, 'another user is served')
  assert.equal((await request(`${proxy.url}/elsewhere`)).status, 200, 'a request without the header is served (its address is not banned)')
})
