// Per-route allow/deny lists over real sockets: clients connect from different loopback addresses (127.0.0.x) and
// are admitted or refused with 403 SWY_ACCESS_DENIED; behind a trusted proxy the X-Forwarded-For client counts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBackend, startProxy, echo, request } from '../helpers/index.ts'

test('allow and deny by client address: deny wins, a non-empty allow refuses the rest, routes without lists are open', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, {
    workers: 2,
    upstreams: { web: { servers: [{ url: backend.url }] } },
    routes: [
      { match: { path: '/admin/' }, upstream: 'web', allow: ['127.0.0.2', '127.0.0.3/32', '127.0.1.0/24'], deny: ['127.0.0.3'] },
      { match: { path: '/public/' }, upstream: 'web', deny: ['127.0.0.4'] },
      { match: { path: '/' }, upstream: 'web' }
    ],
    trusted_proxies: ['127.0.0.5'],
    log: { access: false }
  })
  const cases: Array<{ name: string, from: string, path: string, headers?: Record<string, string>, expected: number }> = [
    { name: 'allowed address', from: '127.0.0.2', path: '/admin/x', expected: 200 },
    { name: 'address inside an allowed CIDR', from: '127.0.1.9', path: '/admin/x', expected: 200 },
    { name: 'address outside the allow list', from: '127.0.0.1', path: '/admin/x', expected: 403 },
    { name: 'allowed and denied: deny wins', from: '127.0.0.3', path: '/admin/x', expected: 403 },
    { name: 'denied on a deny-only route', from: '127.0.0.4', path: '/public/x', expected: 403 },
    { name: 'anyone else on a deny-only route', from: '127.0.0.1', path: '/public/x', expected: 200 },
    { name: 'a denied address on a route without lists', from: '127.0.0.4', path: '/other', expected: 200 },
    { name: 'behind a trusted proxy, the forwarded client is checked (allowed)', from: '127.0.0.5', path: '/admin/x', headers: { 'x-forwarded-for': '127.0.0.2' }, expected: 200 },
    { name: 'behind a trusted proxy, the forwarded client is checked (refused)', from: '127.0.0.5', path: '/admin/x', headers: { 'x-forwarded-for': '127.0.0.9' }, expected: 403 },
    { name: 'X-Forwarded-For from an untrusted peer is ignored', from: '127.0.0.1', path: '/admin/x', headers: { 'x-forwarded-for': '127.0.0.2' }, expected: 403 }
  ]
  for (const c of cases) {
    const r = await request(`${proxy.url}${c.path}`, { localAddress: c.from, ...(c.headers === undefined ? {} : { headers: c.headers }) })
    assert.equal(r.status, c.expected, `${c.name}: ${r.body}`)
    if (c.expected === 403) assert.equal((JSON.parse(r.body) as { error: string }).error, 'SWY_ACCESS_DENIED', c.name)
    else assert.equal((JSON.parse(r.body) as { name: string }).name, 'backend', c.name)
  }
})

test('the access check runs before the rate limit: refused clients spend no tokens', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, {
    workers: 2,
    upstreams: { web: { servers: [{ url: backend.url }] } },
    routes: [{ match: { path: '/limited/' }, upstream: 'web', deny: ['127.0.0.4'], rate_limit: { key: 'route', rate: '1/m', burst: 1 } }],
    log: { access: false }
  })
  for (let i = 0; i < 3; i++) assert.equal((await request(`${proxy.url}/limited/x`, { localAddress: '127.0.0.4' })).status, 403)
  assert.equal((await request(`${proxy.url}/limited/x`, { localAddress: '127.0.0.1' })).status, 200, 'the one token is still there')
  assert.equal((await request(`${proxy.url}/limited/x`, { localAddress: '127.0.0.1' })).status, 429)
})
