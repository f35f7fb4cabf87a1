// The config file plus runtime membership, as a table of snapshots: what each upstream serves, what drains, and
// where each server comes from.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfig } from '../../../src/config/index.ts'
import { overlay, sameServers, EMPTY_SNAPSHOT, type MembershipSnapshot } from '../../../src/membership/index.ts'

const A = 'http://10.0.0.1:8001'
const B = 'http://10.0.0.2:8001'
const C = 'http://10.0.0.3:8001'
const D = 'http://10.0.0.4:8001'

const config = loadConfig({
  upstreams: { web: { servers: [{ url: A }, { url: B, weight: 3 }] }, api: { discover: 'api', servers: [{ url: A }] } },
  routes: [{ upstream: 'web' }, { match: { path: '/api/' }, upstream: 'api' }]
})

const cases: Array<{ name: string, snapshot: MembershipSnapshot, web: Array<[string, number]>, api: string[], draining: string[], origin?: Record<string, string> }> = [
  { name: 'nothing known: the file as it is', snapshot: EMPTY_SNAPSHOT, web: [[A, 1], [B, 3]], api: [A], draining: [] },
  { name: 'an added server comes after the file\'s', snapshot: { changes: { web: [{ url: C, state: 'active', weight: 2 }] }, services: {} }, web: [[A, 1], [B, 3], [C, 2]], api: [A], draining: [], origin: { [A]: 'config', [B]: 'config', [C]: 'api' } },
  { name: 'a change to a file server keeps its place and takes the new weight', snapshot: { changes: { web: [{ url: B, state: 'active', weight: 1 }] }, services: {} }, web: [[A, 1], [B, 1]], api: [A], draining: [] },
  { name: 'a drained server stays listed', snapshot: { changes: { web: [{ url: A, state: 'drain', weight: 1 }] }, services: {} }, web: [[A, 1], [B, 3]], api: [A], draining: [A] },
  { name: 'a removed server is gone, even from the file', snapshot: { changes: { web: [{ url: A, state: 'removed', weight: 1 }] }, services: {} }, web: [[B, 3]], api: [A], draining: [] },
  { name: 'discovered members join in URL order, once each', snapshot: { changes: {}, services: { api: [D, C, A] } }, web: [[A, 1], [B, 3]], api: [A, C, D], draining: [], origin: { [A]: 'config', [B]: 'config' } },
  { name: 'the API can remove a discovered member', snapshot: { changes: { api: [{ url: C, state: 'removed', weight: 1 }] }, services: { api: [C] } }, web: [[A, 1], [B, 3]], api: [A], draining: [] }
]

for (const c of cases) {
  test(c.name, () => {
    const o = overlay(config, c.snapshot)
    assert.deepEqual(o.config.upstreams.web!.servers.map((s) => [s.url, s.weight]), c.web)
    assert.deepEqual(o.config.upstreams.api!.servers.map((s) => s.url), c.api)
    assert.deepEqual([...o.draining.web!], c.draining)
    if (c.origin !== undefined) assert.deepEqual(o.origin.web, c.origin)
    assert.equal(sameServers(o.config, config), c.snapshot === EMPTY_SNAPSHOT || (c.web.length === 2 && c.web[1]![1] === 3 && c.api.length === 1))
  })
}

test('the file\'s config object is not touched', () => {
  overlay(config, { changes: { web: [{ url: A, state: 'removed', weight: 1 }] }, services: {} })
  assert.equal(config.upstreams.web!.servers.length, 2)
})
