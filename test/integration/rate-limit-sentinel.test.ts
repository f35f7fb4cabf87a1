// Rate limits on Redis behind Sentinel: one Switchyard instance (2 workers) under continuous load while the master
// is killed. No request fails (each is admitted or refused), and after the failover the limiter runs on the promoted
// replica again: its Lua calls and bucket key show up there, and the admitted count fits one shared budget.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { startBackend, startProxy, echo, drive } from '../helpers/index.ts'
import { startRedisSentinel } from '../helpers/redis.ts'

/** Lua calls the server has run (EVALSHA, plus EVAL when a script was not cached yet). */
async function scriptCalls (r: Redis): Promise<number> {
  const info = await r.info('commandstats')
  let n = 0
  for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) n += Number(m[1])
  return n
}

test('Sentinel failover under load: 0 failed requests, then the shared limit holds on the promoted master', async (t) => {
  const s = await startRedisSentinel(t)
  const backend = await startBackend(t, echo())
  const rate = 20
  const burst = 10
  const prefix = `rlsent${process.pid}`
  const proxy = await startProxy(t, {
    workers: 2,
    upstreams: { web: { servers: [{ url: backend.url }] } },
    routes: [{ upstream: 'web', rate_limit: { key: 'route', rate: `${rate}/s`, burst } }],
    state: { sentinel: { sentinels: s.sentinels, name: s.name }, prefix },
    log: { access: false }
  })
  const urls = [`${proxy.url}/x`]

  const before = await drive(urls, 4, 1500)
  assert.equal(before.failed, 0)
  assert.ok(before.limited > 0, 'driven over the limit')
  assert.ok(before.ok <= rate * before.elapsedMs / 1000 + burst + 1, `before the failover admitted ${before.ok}`)

  // Load keeps running while the master dies and a replica is promoted (a few seconds with a 1 s down-after).
  const during = drive(urls, 4, 8000)
  await sleep(1000)
  const newMaster = await s.failover()
  const d = await during
  t.diagnostic(`during the failover: ${d.ok} admitted, ${d.limited} refused, ${d.failed} failed in ${d.elapsedMs} ms`)
  assert.equal(d.failed, 0, 'a master failover never fails a request')
  assert.ok(d.limited > 0, 'still limited during the failover')
  assert.ok(proxy.logs.some((l) => String(l.msg).includes('shared state unavailable')), 'the limiter noticed the lost master')

  const promoted = new Redis({ host: '127.0.0.1', port: newMaster, maxRetriesPerRequest: 0 })
  promoted.on('error', () => {})
  t.after(() => { promoted.disconnect() })
  assert.match(await promoted.info('replication'), /role:master/)
  // Workers retry shared state a second after their last fault, once ioredis has found the new master.
  const warm = await drive(urls, 4, 2500)
  assert.equal(warm.failed, 0)
  const callsBefore = await scriptCalls(promoted)
  const after = await drive(urls, 4, 3000)
  const callsAfter = await scriptCalls(promoted)
  t.diagnostic(`after: ${after.ok}/${after.ok + after.limited} admitted in ${after.elapsedMs} ms; Lua calls on the new master ${callsBefore} → ${callsAfter}`)
  assert.equal(after.failed, 0)
  assert.ok(callsAfter > callsBefore, 'the limiter takes its tokens from the promoted master')
  const keys = await promoted.keys(`{${prefix}:*`)
  assert.ok(keys.length > 0, `a bucket under {${prefix}:…} on the new master`)
  assert.ok(proxy.logs.some((l) => String(l.msg).includes('shared state is back')), 'the limiter left its local fallback')
  // + leases workers may still hold from the warm-up phase (≤ 1 per worker near empty, as in rate-limit-shared).
  const bound = rate * after.elapsedMs / 1000 + burst + 4
  assert.ok(after.ok <= bound, `after the failover admitted ${after.ok}, bound ${bound}`)
  assert.ok(after.ok >= 0.8 * rate * after.elapsedMs / 1000, `after the failover admitted ${after.ok}`)
})
