// Bans across hosts: two independent Switchyard instances (each its own primary and 2 workers) sharing one real
// redis-server. A client banned on instance A is refused by instance B too, on every route, until the ban expires;
// with Redis stopped no unbanned request fails and known bans still hold; after Redis returns, new bans propagate again.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBackend, startProxy, echo, request, drive, waitFor, type HttpResult, type ProxyHandle } from '../helpers/index.ts'
import { startRedis } from '../helpers/redis.ts'

const errorOf = (r: HttpResult): string | undefined => r.status >= 400 ? (JSON.parse(r.body) as { error?: string }).error : undefined

async function twoHosts (t: Parameters<typeof startProxy>[0], redisUrl: string, banFor: string): Promise<[ProxyHandle, ProxyHandle]> {
  const backend = await startBackend(t, echo())
  const config = {
    workers: 2,
    upstreams: { web: { servers: [{ url: backend.url }] } },
    routes: [
      { match: { path: '/limited' }, upstream: 'web', rate_limit: { key: 'ip', rate: '1/m', burst: 1, ban: { after: 3, within: '1m', for: banFor } } },
      { match: { path: '/' }, upstream: 'web' }
    ],
    state: { redis: redisUrl, prefix: `bantest${Date.now().toString(36)}`, timeout: '200ms' },
    log: { access: false }
  }
  return await Promise.all([startProxy(t, config), startProxy(t, config)])
}

/** Drives `from` over the limit on `proxy` until it is refused with SWY_BANNED there (bounded). */
async function getBanned (proxy: ProxyHandle, from: string): Promise<void> {
  await waitFor(async () => errorOf(await request(`${proxy.url}/limited`, { localAddress: from })) === 'SWY_BANNED', `${from} to be banned`, 10_000, 10)
}

test('banned on instance A, refused on instance B on every route; other clients served; the ban expires', async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await twoHosts(t, redis.url, '4s')
  // The client never touched B before the ban.
  await getBanned(a, '127.0.0.2')
  await waitFor(async () => errorOf(await request(`${b.url}/other`, { localAddress: '127.0.0.2' })) === 'SWY_BANNED', 'B to refuse the client', 5000, 20)
  // On B, on both workers (fresh connections spread over them), on both routes.
  for (let i = 0; i < 6; i++) {
    const r = await request(`${b.url}/${i % 2 === 0 ? 'limited' : 'other'}`, { localAddress: '127.0.0.2' })
    assert.equal(r.status, 403)
    assert.equal(errorOf(r), 'SWY_BANNED')
    assert.ok(Number(r.headers['retry-after']) >= 1)
  }
  assert.equal((await request(`${b.url}/other`, { localAddress: '127.0.0.3' })).status, 200, 'another address is served on B')
  assert.equal((await request(`${a.url}/other`, { localAddress: '127.0.0.3' })).status, 200, 'and on A')
  await waitFor(async () => (await request(`${b.url}/other`, { localAddress: '127.0.0.2' })).status === 200, 'the ban to expire on B', 10_000, 100)
  assert.equal((await request(`${a.url}/other`, { localAddress: '127.0.0.2' })).status, 200, 'and on A')
})

test('Redis stopped under load: 0 failed unbanned requests, known bans enforced; back up: a new ban crosses instances', async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await twoHosts(t, redis.url, '10m')
  await getBanned(a, '127.0.0.2')
  await waitFor(async () => (await request(`${b.url}/other`, { localAddress: '127.0.0.2' })).status === 403, 'B to know the first ban', 5000, 20)

  await redis.stop()
  // Unbanned traffic on both instances while Redis is gone, with the banned client probing alongside.
  const probes: number[] = []
  let probing = true
  const probe = (async () => {
    while (probing) {
      for (const p of [a, b]) probes.push((await request(`${p.url}/other`, { localAddress: '127.0.0.2' })).status)
    }
  })()
  const load = await drive([`${a.url}/other`, `${b.url}/other`], 3, 2500)
  probing = false
  await probe
  t.diagnostic(`outage: ${load.ok} ok, ${load.failed} failed; banned client probes ${probes.length}`)
  assert.equal(load.failed, 0, 'a state fault never fails a request')
  assert.ok(load.ok > 0)
  assert.ok(probes.length > 0 && probes.every((s) => s === 403), `banned client during the outage: ${probes.join(',')}`)
  // During the outage a worker still bans on its own count (2 workers: 3 rejections on one worker within a few tries).
  await getBanned(a, '127.0.0.6')
  for (const p of [a, b]) {
    const warnings = p.logs.filter((l) => String(l.msg).startsWith('bans: shared state unavailable'))
    assert.ok(warnings.length >= 1, 'each instance warned')
    // 2 workers × (ban sync + one counter), each at most once per 10 s.
    assert.ok(warnings.length <= 8, `at most one warning per interval per concern and worker, got ${warnings.length}`)
  }

  await redis.start()
  // The restarted Redis is empty: this ban can only reach B through the recovered pub/sub or the re-read set.
  await getBanned(a, '127.0.0.4')
  await waitFor(async () => errorOf(await request(`${b.url}/other`, { localAddress: '127.0.0.4' })) === 'SWY_BANNED', 'B to learn the new ban', 15_000, 50)
  // The ban A made on its own count during the outage was kept and written once Redis answered again.
  await waitFor(async () => errorOf(await request(`${b.url}/other`, { localAddress: '127.0.0.6' })) === 'SWY_BANNED', 'B to learn the outage ban', 15_000, 50)
  assert.equal((await request(`${b.url}/other`, { localAddress: '127.0.0.3' })).status, 200)
  assert.equal((await request(`${b.url}/other`, { localAddress: '127.0.0.2' })).status, 403, 'the first ban still holds on B')
})
