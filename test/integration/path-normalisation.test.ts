// Path normalisation over raw sockets (fetch and node:http would normalise the path themselves): dot segments, plain
// or percent-encoded, cannot carry a request past a route's access list or to another route's backend under a
// different path; bad paths get 400 SWY_BAD_PATH; the normalised path is what the backend gets; the query is untouched.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBackend, startProxy, echo, rawRequest } from '../helpers/index.ts'

interface Echoed { name: string, url: string }

async function get (port: number, target: string): Promise<{ status: number, json: Record<string, unknown> }> {
  const r = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)
  r.socket.destroy()
  return { status: r.status, json: JSON.parse(r.body.toString()) as Record<string, unknown> }
}

test('dot segments and encodings cannot slip past a route; the normalised path is what the backend gets', async (t) => {
  const pub = await startBackend(t, echo('public'))
  const adm = await startBackend(t, echo('admin'))
  const root = await startBackend(t, echo('root'))
  const proxy = await startProxy(t, {
    upstreams: { pub: { servers: [{ url: pub.url }] }, adm: { servers: [{ url: adm.url }] }, root: { servers: [{ url: root.url }] } },
    routes: [
      { match: { path: '/public/' }, upstream: 'pub' },
      { match: { path: '/admin/' }, upstream: 'adm', allow: ['10.9.9.9'] },
      { match: { path: '/v1/' }, upstream: 'pub', strip_prefix: true },
      { match: { path: '/' }, upstream: 'root' }
    ],
    log: { access: false }
  })
  const refusedByAdmin: string[] = [
    '/public/../admin/x',
    '/public/%2e%2e/admin/x',
    '/public/%2E%2E/admin/x',
    '/public/.%2e/admin/x',
    '/public/./../admin/x',
    '//admin/x',
    '/%61dmin/x',
    '/public/a/../../admin/x'
  ]
  for (const target of refusedByAdmin) {
    const r = await get(proxy.port, target)
    assert.equal(r.status, 403, `${target} reaches the admin route and its allow list: ${JSON.stringify(r.json)}`)
    assert.equal(r.json.error, 'SWY_ACCESS_DENIED', target)
  }
  const bad: string[] = [
    '/public/..%2fadmin/x',
    '/public/..%2Fadmin/x',
    '/public/..\\admin/x',
    '/public/..%5cadmin/x',
    '/public/x%00.txt',
    '/../admin/x',
    '/public/../../admin/x',
    '/public/..;/admin/x',
    '/public/%zz'
  ]
  for (const target of bad) {
    const r = await get(proxy.port, target)
    assert.equal(r.status, 400, `${target}: ${JSON.stringify(r.json)}`)
    assert.equal(r.json.error, 'SWY_BAD_PATH', target)
  }
  const forwarded: Array<{ target: string, name: string, url: string }> = [
    { target: '/public/a/./b/../c', name: 'public', url: '/public/a/c' },
    { target: '/public/%7Euser/%41%20b', name: 'public', url: '/public/~user/A%20b' },
    { target: '/public/x?q=/../admin&p=%2e%2e%2F', name: 'public', url: '/public/x?q=/../admin&p=%2e%2e%2F' },
    { target: '/public/../other', name: 'root', url: '/other' },
    { target: '/v1/a/../b', name: 'public', url: '/b' },
    { target: '/v1/%2e%2e/public/x', name: 'public', url: '/public/x' },
    { target: '/public//x', name: 'public', url: '/public/x' }
  ]
  for (const f of forwarded) {
    const r = await get(proxy.port, f.target)
    assert.equal(r.status, 200, f.target)
    assert.deepEqual({ name: (r.json as unknown as Echoed).name, url: (r.json as unknown as Echoed).url }, { name: f.name, url: f.url }, f.target)
  }
})

test('allow_encoded_slash keeps %2F encoded (never decoded into a separator); merge_slashes: false keeps //', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, {
    upstreams: { web: { servers: [{ url: backend.url }] } },
    limits: { allow_encoded_slash: true, merge_slashes: false },
    routes: [{ match: { path: '/files/' }, upstream: 'web' }],
    log: { access: false }
  })
  const r = await get(proxy.port, '/files/a%2fb/..%2F..%2fc')
  assert.equal(r.status, 200)
  assert.equal(r.json.url, '/files/a%2Fb/..%2F..%2Fc')
  assert.equal((await get(proxy.port, '/files//x')).json.url, '/files//x')
  assert.equal((await get(proxy.port, '/files/%5c')).status, 400, 'a backslash is still refused')
})
