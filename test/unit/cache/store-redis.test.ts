// The cache store on a real redis-server (three clients: three hosts) and a 3-master Redis Cluster, and the fault
// path: Redis killed → memory still serves, reads miss, nothing throws; Redis back → the shared level is used again.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import { createRedisState, createKeys, type SharedState } from '../../../src/state/index.ts'
import { createCacheStore } from '../../../src/cache/store/index.ts'
import { startRedis, startRedisCluster } from '../../helpers/redis.ts'
import { waitFor } from '../../helpers/index.ts'
import { storeSuite, quiet } from './store-suite.ts'
import { entry } from './store-fixtures.ts'

const log = pino({ level: 'silent' })

storeSuite('redis, single server', async () => {
  const closers: Array<() => Promise<void>> = []
  const redis = await startRedis({ after: (fn) => { closers.push(fn) } })
  const states = await Promise.all([0, 1, 2].map(async () => await createRedisState({ mode: 'single', url: redis.url, prefix: 'swy', log })))
  return {
    states,
    async close () { for (const s of states) await s.close(); for (const c of closers) await c() }
  }
})

storeSuite('redis cluster, 3 masters', async () => {
  const closers: Array<() => Promise<void>> = []
  const cluster = await startRedisCluster({ after: (fn) => { closers.push(fn) } })
  const states = await Promise.all([0, 1].map(async () => await createRedisState({ mode: 'cluster', nodes: cluster.nodes, prefix: 'swy', timeoutMs: 1000, readyTimeoutMs: 10_000, log })))
  return {
    states,
    async close () { for (const s of states) await s.close(); for (const c of closers) await c() }
  }
})

test('redis killed: memory still serves, reads miss and nothing throws; redis back: the same stores use it again', async (t) => {
  const redis = await startRedis(t)
  const states: SharedState[] = await Promise.all([0, 1].map(async () => await createRedisState({ mode: 'single', url: redis.url, prefix: 'swy', timeoutMs: 200, log })))
  t.after(async () => { for (const s of states) await s.close() })
  const keys = createKeys('fault')
  const [a, b] = states.map((state) => createCacheStore({ state, keys, memoryBytes: 1 << 20, now: Date.now, log: quiet, retryMs: 100, lockPollMs: 50 }))
  t.after(async () => { await a!.close(); await b!.close() })
  await a!.ready()
  await b!.ready()
  await a!.put('k', entry('h/a'), 60_000)
  assert.equal((await b!.get('k'))?.url, 'h/a')

  await redis.stop()
  assert.equal((await a!.get('k'))?.url, 'h/a', 'fresh entries in worker memory still serve')
  assert.equal((await b!.get('k'))?.url, 'h/a')
  assert.equal(await b!.get('other'), undefined, 'a shared fault reads as a miss')
  await b!.put('only-b', entry('h/b'), 60_000)
  assert.equal(b!.getLocal('only-b')?.url, 'h/b')
  assert.equal(await a!.get('only-b'), undefined)
  assert.equal(await a!.lock('x', 1000), 'unavailable')
  assert.equal(await a!.waitFill('x', 150), 'timeout')
  assert.equal(await a!.getVary('p'), undefined)
  await a!.setVary('p', ['accept'], 60_000)
  assert.equal(await b!.purge({ url: 'h/zzz' }), 0)
  assert.ok(a!.stats().faults > 0 && b!.stats().faults > 0)

  await redis.start()
  // The server restarted empty; each store retries the shared level after its retry window and resubscribes.
  await waitFor(async () => { await a!.put('again', entry('h/c'), 60_000); return (await b!.get('again'))?.url === 'h/c' }, 'the shared level to be used again', 15_000, 100)
  await waitFor(async () => await a!.lock('y', 60_000) === 'acquired', 'locks to work again', 15_000, 100)
  // Purge messages reach the other store again (the subscriber reconnected and resubscribed by itself).
  await waitFor(async () => {
    await a!.put('p1', entry('h/p'), 60_000)
    await b!.get('p1')
    await a!.purge({ url: 'h/p' })
    return await waitFor(() => b!.getLocal('p1') === undefined, 'b to drop h/p', 1000, 10).then(() => true, () => false)
  }, 'purges to reach the other store again', 15_000, 100)
})
