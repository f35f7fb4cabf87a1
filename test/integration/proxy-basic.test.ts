// Forwarding basics through a real primary and worker: method, path, query and body reach the backend.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBackend, startProxy, echo } from '../helpers/index.ts'

test('forwards method, path, query and body', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, { upstreams: { a: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'a' }] })
  const res = await fetch(`${proxy.url}/a?b=1`, { method: 'POST', body: 'hi' })
  assert.equal(res.status, 200)
  const got = await res.json() as { method: string, url: string, body: string }
  assert.deepEqual({ method: got.method, url: got.url, body: got.body }, { method: 'POST', url: '/a?b=1', body: 'hi' })
})

test('answers 404 with a code and the request id when no route matches', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, { upstreams: { a: { servers: [{ url: backend.url }] } }, routes: [{ match: { path: '/api/' }, upstream: 'a' }] })
  const res = await fetch(`${proxy.url}/other`)
  assert.equal(res.status, 404)
  const body = await res.json() as { error: string, request_id: string }
  assert.equal(body.error, 'SWY_ROUTE_NOT_FOUND')
  assert.equal(body.request_id, res.headers.get('x-request-id'))
})
