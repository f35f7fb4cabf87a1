// A short fuzz run (bench/fuzz) inside the suite: 5 s of random and mutated request bytes against 2 workers. Every
// worker alive at the start still serves at the end, the proxy answers, nothing it forwarded was unparseable, and
// no request made it fault (500). The seed is in the failure message: `npm run fuzz -- --seed N` replays it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startProxy, waitFor } from '../helpers/index.ts'
import { fuzz, plainStatus, startFuzzBackend, vitals } from '../../bench/fuzz/fuzz.ts'

test('5 s of fuzzed requests leave every worker alive and the proxy answering', { timeout: 60_000 }, async (t) => {
  const backend = await startFuzzBackend()
  t.after(() => backend.close())
  const proxy = await startProxy(t, { workers: 2, upstreams: { a: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'a' }] })
  const before = await vitals(proxy.adminUrl)
  assert.equal(before.pids.length, 2)
  const seed = Math.floor(Math.random() * 2 ** 32)
  const stats = await fuzz({ port: proxy.port, durationMs: 5000, seed, concurrency: 16 })
  const replay = `seed ${seed} (npm run fuzz -- --seed ${seed})`
  t.diagnostic(`${replay}: ${JSON.stringify({ ...stats, internal: stats.internal.length })}`)
  assert.ok(stats.connections > 0, 'the fuzzer ran')
  assert.equal(await plainStatus(proxy.port), 200, `the proxy stopped answering; ${replay}`)
  const after = await vitals(proxy.adminUrl)
  assert.deepEqual(after.pids, before.pids, `a worker was replaced; ${replay}`)
  assert.equal(after.restarts, 0, replay)
  assert.deepEqual(stats.internal, [], `requests that made the proxy fault; ${replay}`)
  assert.deepEqual(backend.parseErrors, [], `the backend could not parse what the proxy sent; ${replay}`)
  await waitFor(async () => (await vitals(proxy.adminUrl)).inflight === 0, 'in-flight upstream requests back to 0', 15_000, 100)
})
