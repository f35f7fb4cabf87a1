// A short run of the response fuzzer (bench/fuzz/responses.ts) inside the suite: 5 s of plain requests through 2
// workers to a backend answering with mutated responses. Every worker alive at the start still serves at the end,
// no request made the proxy fault (500), and every upstream request in flight is settled. The seed is in the
// failure message: `npm run fuzz -- --seed N` replays it (with request fuzzing alongside).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startProxy, waitFor } from '../helpers/index.ts'
import { plainStatus, vitals } from '../../bench/fuzz/fuzz.ts'
import { fuzzResponses, startMutatingBackend } from '../../bench/fuzz/responses.ts'

test('5 s of mutated backend responses leave every worker alive and the proxy answering', { timeout: 60_000 }, async (t) => {
  const seed = Math.floor(Math.random() * 2 ** 32)
  const backend = await startMutatingBackend(seed)
  t.after(() => backend.close())
  const proxy = await startProxy(t, {
    workers: 2,
    upstreams: { m: { servers: [{ url: backend.url }], timeouts: { response: '1s' } } },
    routes: [{ upstream: 'm' }],
    log: { access: false }
  })
  const before = await vitals(proxy.adminUrl)
  assert.equal(before.pids.length, 2)
  const stats = await fuzzResponses({ port: proxy.port, prefix: '/mut/', durationMs: 5000, seed, concurrency: 16 })
  const replay = `seed ${seed} (npm run fuzz -- --seed ${seed})`
  t.diagnostic(`${replay}: ${JSON.stringify({ ...stats, internal: stats.internal.length, backendAnswers: backend.answered() })}`)
  assert.ok(stats.requests > 100 && backend.answered() > 100, `too few exchanges; ${replay}`)
  assert.ok((stats.statuses['2xx'] ?? 0) > 0 && (stats.statuses['5xx'] ?? 0) > 0, `answers both passed and refused; ${replay}`)
  const faults = proxy.logs.filter((l) => l.code === 'SWY_INTERNAL').map((l) => JSON.stringify(l).slice(0, 600))
  assert.deepEqual(stats.internal, [], `requests that made the proxy fault; ${replay}; logged: ${faults.join(' | ')}`)
  const after = await vitals(proxy.adminUrl)
  assert.deepEqual(after.pids, before.pids, `a worker was replaced; ${replay}`)
  assert.equal(after.restarts, 0, replay)
  assert.notEqual(await plainStatus(proxy.port), 0, `the proxy stopped answering; ${replay}`)
  await waitFor(async () => (await vitals(proxy.adminUrl)).inflight === 0, 'in-flight upstream requests back to 0', 15_000, 100)
})
