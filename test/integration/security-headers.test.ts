// security_headers: written once on every response of the route (proxied, cached, local errors), replacing the
// backend's own copies; routes without the key pass the backend's through and add none.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBackend, startProxy, freePort, rawRequest, headerValues, type RawResponse } from '../helpers/index.ts'

async function get (port: number, target: string, method = 'GET'): Promise<RawResponse> {
  const r = await rawRequest(port, `${method} ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)
  r.socket.destroy()
  return r
}

const SECURE = {
  'strict-transport-security': ['max-age=31536000; includeSubDomains'],
  'x-content-type-options': ['nosniff'],
  'x-frame-options': ['SAMEORIGIN']
}

function security (r: RawResponse): Record<string, string[]> {
  return {
    'strict-transport-security': headerValues(r, 'strict-transport-security'),
    'x-content-type-options': headerValues(r, 'x-content-type-options'),
    'x-frame-options': headerValues(r, 'x-frame-options')
  }
}

test('security headers on proxied, cached and local answers of the route, once each; other routes untouched', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    res.setHeader('x-frame-options', 'ALLOWALL')
    res.setHeader('x-content-type-options', 'sniff-away')
    res.setHeader('cache-control', 'max-age=60')
    res.end(`hello ${req.url ?? ''}`)
  })
  const dead = await freePort()
  const headers = { hsts: { max_age: '1y', include_subdomains: true }, frame_options: 'sameorigin' }
  const proxy = await startProxy(t, {
    upstreams: { web: { servers: [{ url: backend.url }] }, down: { servers: [{ url: `http://127.0.0.1:${dead}` }], retries: 0 } },
    routes: [
      { match: { path: '/secure/' }, upstream: 'web', security_headers: headers, limits: { methods: ['GET', 'HEAD'] } },
      { match: { path: '/cached/' }, upstream: 'web', security_headers: headers, cache: {} },
      { match: { path: '/down/' }, upstream: 'down', security_headers: headers },
      { match: { path: '/plain/' }, upstream: 'web' },
      { match: { path: '/defaults/' }, upstream: 'web', security_headers: {} }
    ],
    log: { access: false }
  })
  const proxied = await get(proxy.port, '/secure/x')
  assert.equal(proxied.status, 200)
  assert.deepEqual(security(proxied), SECURE, 'proxied: the backend\'s copies replaced')

  const head = await get(proxy.port, '/secure/x', 'HEAD')
  assert.deepEqual(security(head), SECURE, 'HEAD')

  const refused = await get(proxy.port, '/secure/x', 'POST')
  assert.equal(refused.status, 405)
  assert.deepEqual(security(refused), SECURE, 'a local 405')

  const unreachable = await get(proxy.port, '/down/x')
  assert.equal(unreachable.status, 502)
  assert.deepEqual(security(unreachable), SECURE, 'a local 502')

  assert.deepEqual(security(await get(proxy.port, '/cached/x')), SECURE, 'cache miss')
  const hit = await get(proxy.port, '/cached/x')
  assert.deepEqual(headerValues(hit, 'x-cache'), ['HIT'])
  assert.deepEqual(security(hit), SECURE, 'cache hit')

  const plain = await get(proxy.port, '/plain/x')
  assert.deepEqual(security(plain), {
    'strict-transport-security': [],
    'x-content-type-options': ['sniff-away'],
    'x-frame-options': ['ALLOWALL']
  }, 'a route without security_headers passes the backend\'s through')

  assert.deepEqual(security(await get(proxy.port, '/defaults/x')), {
    'strict-transport-security': [],
    'x-content-type-options': ['nosniff'],
    'x-frame-options': ['DENY']
  }, 'security_headers: {} — nosniff and DENY, no HSTS')
})
