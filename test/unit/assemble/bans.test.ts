// What buildRuntime puts in the global stage array: the ban check only when some rate limit has a ban, right after
// the guard, and the runtime's ban table and sync with it; the path stage always, right before the route (and the
// client caps between them when a cap is set).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import { loadConfig } from '../../../src/config/index.ts'
import { buildRuntime } from '../../../src/assemble/index.ts'
import { EmbeddedStore } from '../../../src/state/index.ts'

const base = { upstreams: { api: { servers: [{ url: 'http://127.0.0.1:9' }] } } }

const cases: Array<{ name: string, input: Record<string, unknown>, expected: { stages: string[], bans: boolean } }> = [
  { name: 'no rate limit', input: { ...base, routes: [{ upstream: 'api' }] }, expected: { stages: ['guard', 'path', 'route'], bans: false } },
  { name: 'a rate limit without ban, access lists', input: { ...base, routes: [{ upstream: 'api', deny: ['10.0.0.0/8'], rate_limit: { rate: '1/s' } }] }, expected: { stages: ['guard', 'path', 'route'], bans: false } },
  { name: 'a rate limit with a ban', input: { ...base, routes: [{ upstream: 'api' }, { match: { path: '/a' }, upstream: 'api', rate_limit: { rate: '1/s', ban: { after: 3 } } }] }, expected: { stages: ['guard', 'ban', 'path', 'route'], bans: true } },
  { name: 'an in-flight cap', input: { ...base, limits: { max_inflight_per_ip: 4 }, routes: [{ upstream: 'api' }] }, expected: { stages: ['guard', 'path', 'client-caps', 'route'], bans: false } }
]

for (const c of cases) {
  test(`global stages: ${c.name}`, async () => {
    const state = new EmbeddedStore({ sweepMs: 0 })
    const runtime = buildRuntime(loadConfig(c.input), { log: pino({ level: 'silent' }), random: Math.random, nextId: () => 'id', state, workers: 1 })
    await runtime.ready
    assert.deepEqual(runtime.stages.map((s) => s.name), c.expected.stages)
    assert.equal(runtime.bans !== undefined, c.expected.bans)
    await runtime.close(0)
    await state.close()
  })
}
