// Routing through a real proxy: exact and wildcard hosts, host routes before any-host routes, the longest
// prefix, strip_prefix, and the 404 answer when nothing matches.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBackend, startProxy, request, echo } from '../helpers/index.ts'

interface Case {
  readonly name: string
  readonly host: string
  readonly path: string
  /** The backend (named after its upstream) and the URL it must see. */
  readonly expected: { readonly backend: string, readonly url: string }
}

const cases: Case[] = [
  { name: 'exact host', host: 'api.example.com', path: '/x', expected: { backend: 'exact', url: '/x' } },
  { name: 'exact host ignores case and port', host: 'API.Example.COM:8443', path: '/x', expected: { backend: 'exact', url: '/x' } },
  { name: 'exact host beats the wildcard', host: 'api.example.com', path: '/', expected: { backend: 'exact', url: '/' } },
  { name: 'wildcard host', host: 'shop.example.com', path: '/x', expected: { backend: 'wild', url: '/x' } },
  { name: 'wildcard matches one label only', host: 'a.b.example.com', path: '/x', expected: { backend: 'any', url: '/x' } },
  { name: 'wildcard does not match the apex', host: 'example.com', path: '/x', expected: { backend: 'any', url: '/x' } },
  { name: 'unknown host falls to the any-host routes', host: 'other.test', path: '/x', expected: { backend: 'any', url: '/x' } },
  { name: 'a host route beats a longer any-host prefix', host: 'api.example.com', path: '/api/v2/x', expected: { backend: 'exact', url: '/api/v2/x' } },
  { name: 'longest prefix: /api', host: 'other.test', path: '/api/x', expected: { backend: 'api', url: '/api/x' } },
  { name: 'longest prefix: /api/v2', host: 'other.test', path: '/api/v2/x?q=1', expected: { backend: 'api-v2', url: '/api/v2/x?q=1' } },
  { name: 'strip_prefix keeps the rest and the query', host: 'other.test', path: '/v1/users?x=1', expected: { backend: 'v1', url: '/users?x=1' } },
  { name: 'strip_prefix of the bare prefix gives /', host: 'other.test', path: '/v1', expected: { backend: 'v1', url: '/' } },
  { name: 'strip_prefix of the bare prefix keeps the query', host: 'other.test', path: '/v1?x=1', expected: { backend: 'v1', url: '/?x=1' } },
  { name: 'strip_prefix with a trailing-slash prefix', host: 'other.test', path: '/v2/users/7', expected: { backend: 'v2', url: '/users/7' } },
  { name: 'strip_prefix applies to the wildcard host route too', host: 'shop.example.com', path: '/cart/items', expected: { backend: 'wild-cart', url: '/items' } }
]

test('routes by host and longest prefix, and strips prefixes', async (t) => {
  const names = ['exact', 'wild', 'wild-cart', 'any', 'api', 'api-v2', 'v1', 'v2']
  const upstreams: Record<string, unknown> = {}
  for (const name of names) {
    const b = await startBackend(t, echo(name))
    upstreams[name] = { servers: [{ url: b.url }] }
  }
  const proxy = await startProxy(t, {
    upstreams,
    routes: [
      { match: { host: 'api.example.com' }, upstream: 'exact' },
      { match: { host: '*.example.com' }, upstream: 'wild' },
      { match: { host: '*.example.com', path: '/cart' }, upstream: 'wild-cart', strip_prefix: true },
      { upstream: 'any' },
      { match: { path: '/api' }, upstream: 'api' },
      { match: { path: '/api/v2' }, upstream: 'api-v2' },
      { match: { path: '/v1' }, upstream: 'v1', strip_prefix: true },
      { match: { path: '/v2/' }, upstream: 'v2', strip_prefix: true }
    ]
  })
  for (const c of cases) {
    const r = await request(`${proxy.url}${c.path}`, { headers: { host: c.host } })
    assert.equal(r.status, 200, `${c.name}: ${r.body}`)
    const got = JSON.parse(r.body) as { name: string, url: string, headers: Record<string, string> }
    assert.deepEqual({ backend: got.name, url: got.url }, c.expected, c.name)
    assert.equal(got.headers.host, c.host, `${c.name}: the client's Host reaches the backend`)
  }
})

test('answers 404 SWY_ROUTE_NOT_FOUND as JSON with the request id', async (t) => {
  let hits = 0
  const b = await startBackend(t, (req, res) => { hits++; echo('api')(req, res) })
  const proxy = await startProxy(t, {
    upstreams: { api: { servers: [{ url: b.url }] } },
    routes: [{ match: { host: 'api.example.com', path: '/api' }, upstream: 'api' }]
  })
  const misses = [
    { host: 'other.test', path: '/api/x' },
    { host: 'api.example.com', path: '/other' },
    { host: 'x.api.example.com', path: '/api' }
  ]
  for (const m of misses) {
    const r = await request(`${proxy.url}${m.path}`, { headers: { host: m.host } })
    assert.equal(r.status, 404, `${m.host}${m.path}`)
    assert.match(String(r.headers['content-type']), /^application\/json/)
    const id = r.headers['x-request-id']
    assert.equal(typeof id, 'string')
    assert.notEqual(id, '')
    const body = JSON.parse(r.body) as { error: string, request_id: string }
    assert.equal(body.error, 'SWY_ROUTE_NOT_FOUND')
    assert.equal(body.request_id, id)
  }
  // A sane client id is the one reported.
  const r = await request(`${proxy.url}/nope`, { headers: { host: 'other.test', 'x-request-id': 'trace-42' } })
  assert.equal(r.status, 404)
  assert.equal(r.headers['x-request-id'], 'trace-42')
  assert.equal((JSON.parse(r.body) as { request_id: string }).request_id, 'trace-42')
  assert.equal(hits, 0)
  // And a match still works, so the 404s above are about the route.
  assert.equal((await request(`${proxy.url}/api/x`, { headers: { host: 'api.example.com' } })).status, 200)
  assert.equal(hits, 1)
})
