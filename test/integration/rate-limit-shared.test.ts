// The global limit: two Switchyard instances (two "hosts", 2 workers each) sharing one redis-server hold one budget
// between them; with Redis stopped they fall back to local shares without failing a request, and share again after.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBackend, startProxy, echo, drive, type ProxyHandle } from '../helpers/index.ts'
import { startRedis } from '../helpers/redis.ts'

async function twoHosts (t: Parameters<typeof startProxy>[0], redisUrl: string, rate: string, burst: number): Promise<[ProxyHandle, ProxyHandle]> {
  const backend = await startBackend(t, echo())
  const config = {
    workers: 2,
    upstreams: { web: { servers: [{ url: backend.url }] } },
    routes: [{ upstream: 'web', rate_limit: { key: 'route', rate, burst } }],
    state: { redis: redisUrl, prefix: 'rltest' },
    log: { access: false }
  }
  return await Promise.all([startProxy(t, config), startProxy(t, config)])
}

test('two instances × 2 workers on one Redis, driven far over the limit: admitted within 5% of rate × duration + burst', async (t) => {
  const redis = await startRedis(t)
  const rate = 50
  const burst = 20
  const [a, b] = await twoHosts(t, redis.url, `${rate}/s`, burst)
  const r = await drive([`${a.url}/x`, `${b.url}/x`], 4, 5000)
  const expected = rate * r.elapsedMs / 1000 + burst
  const total = r.ok + r.limited
  t.diagnostic(`admitted ${r.ok} of ${total} in ${r.elapsedMs} ms; rate × duration + burst = ${expected.toFixed(1)}`)
  assert.equal(r.failed, 0)
  assert.ok(total >= 5 * rate * r.elapsedMs / 1000, `offered ${total} requests, want ≥ 5× the limit`)
  // Leases only ever hold tokens the shared bucket granted, so the bound above is hard (+1 for ms rounding); below,
  // the loss is leased-but-unspent tokens (≤ 1 per worker near empty) and the last refill interval.
  assert.ok(r.ok <= expected + 1, `admitted ${r.ok}, bound ${expected}`)
  assert.ok(r.ok >= expected * 0.95, `admitted ${r.ok}, expected ≈ ${expected}`)
})

test('Redis stopped under load: no failed request, local shares still limit, and the shared budget returns after', async (t) => {
  const redis = await startRedis(t)
  const rate = 20
  const burst = 10
  const [a, b] = await twoHosts(t, redis.url, `${rate}/s`, burst)
  const urls = [`${a.url}/x`, `${b.url}/x`]

  const shared = await drive(urls, 3, 1500)
  assert.equal(shared.failed, 0)
  assert.ok(shared.ok <= rate * shared.elapsedMs / 1000 + burst + 1, `shared phase admitted ${shared.ok}`)

  await redis.stop()
  const down = await drive(urls, 3, 3000)
  assert.equal(down.failed, 0, 'a state fault never fails a request')
  // Each worker enforces rate / 2 with burst 5, so each host at most rate × D + burst, plus leases it held (≤ 4).
  const downBound = 2 * (rate * down.elapsedMs / 1000 + burst) + 4
  assert.ok(down.ok <= downBound, `outage admitted ${down.ok}, bound ${downBound}`)
  assert.ok(down.limited > 0, 'still limited during the outage')
  assert.ok([a, b].every((p) => p.logs.some((l) => String(l.msg).includes('shared state unavailable'))), 'each host warned')

  await redis.start()
  // Workers retry shared state a second after their last fault, once ioredis has reconnected; give them time.
  const warm = await drive(urls, 3, 2500)
  assert.equal(warm.failed, 0)
  const back = await drive(urls, 3, 3000)
  assert.equal(back.failed, 0)
  // Two local shares would admit about 2 × rate × D; one shared budget admits rate × D (+ what the bucket held).
  t.diagnostic(`admitted: shared ${shared.ok}/${shared.ok + shared.limited}, Redis down ${down.ok}/${down.ok + down.limited}, back ${back.ok}/${back.ok + back.limited} in ${back.elapsedMs} ms`)
  const backBound = rate * back.elapsedMs / 1000 + burst + 4
  assert.ok(back.ok <= backBound, `after recovery admitted ${back.ok}, bound ${backBound}`)
  assert.ok(back.ok >= 0.8 * rate * back.elapsedMs / 1000, `after recovery admitted ${back.ok}`)
})

test('Redis frozen under load (commands hang, sockets stay open): the command timeout turns it into the local fallback, no failed request', async (t) => {
  const redis = await startRedis(t)
  const rate = 20
  const burst = 10
  const [a, b] = await twoHosts(t, redis.url, `${rate}/s`, burst)
  const urls = [`${a.url}/x`, `${b.url}/x`]
  assert.equal((await drive(urls, 2, 1000)).failed, 0)

  redis.pause()
  let slow
  try {
    slow = await drive(urls, 3, 3000)
  } finally {
    redis.resume()
  }
  assert.equal(slow.failed, 0, 'a hanging Redis never fails a request')
  // Requests kept completing: with only the ioredis default (no command timeout) every refill would hang for good.
  assert.ok(slow.ok + slow.limited >= 50, `only ${slow.ok + slow.limited} requests completed while Redis hung`)
  assert.ok(slow.limited > 0, 'still limited while Redis hangs')
  assert.ok(slow.ok <= 2 * (rate * slow.elapsedMs / 1000 + burst) + 4, `admitted ${slow.ok} while Redis hung`)
  assert.ok([a, b].every((p) => p.logs.some((l) => String(l.msg).includes('shared state unavailable'))), 'each host warned')

  await drive(urls, 3, 2500)
  const back = await drive(urls, 3, 3000)
  assert.equal(back.failed, 0)
  t.diagnostic(`admitted: Redis hung ${slow.ok}/${slow.ok + slow.limited}, back ${back.ok}/${back.ok + back.limited} in ${back.elapsedMs} ms`)
  assert.ok(back.ok <= rate * back.elapsedMs / 1000 + burst + 4, `after recovery admitted ${back.ok}`)
  assert.ok(back.ok >= 0.8 * rate * back.elapsedMs / 1000, `after recovery admitted ${back.ok}`)
})
