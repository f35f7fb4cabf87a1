// The cache store on the embedded shared level: the primary's store in-process and two workers reaching it over
// in-memory IPC channels; and the fault path on a store that is down (every call a StateUnavailableError).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EmbeddedStore, StateUnavailableError, attachStateWorker, createIpcState, createKeys, type SharedState } from '../../../src/state/index.ts'
import { createCacheStore } from '../../../src/cache/store/index.ts'
import { ipcPair } from '../state/pair.ts'
import { waitFor } from '../../helpers/index.ts'
import { storeSuite, quiet } from './store-suite.ts'
import { entry } from './store-fixtures.ts'

storeSuite('embedded (the primary in-process + two workers over IPC)', async () => {
  const primary = new EmbeddedStore({ sweepMs: 50 })
  const p1 = ipcPair()
  const p2 = ipcPair()
  const detach = [attachStateWorker(primary, p1.a), attachStateWorker(primary, p2.a)]
  const w1 = createIpcState({ channel: p1.b, timeoutMs: 2000 })
  const w2 = createIpcState({ channel: p2.b, timeoutMs: 2000 })
  return {
    states: [w1, w2, primary],
    async close () {
      for (const d of detach) d()
      await w1.close()
      await w2.close()
      await primary.close()
    }
  }
})

function counting (): { warn (o: object, m: string): void, info (o: object, m: string): void, warns: number, infos: number } {
  return { warns: 0, infos: 0, warn () { this.warns++ }, info () { this.infos++ } }
}

test('shared level down: reads miss, writes stay in memory and serve, lock is unavailable, nothing throws; one warning', async () => {
  const down = new EmbeddedStore({ sweepMs: 0 })
  await down.close()
  const log = counting()
  let now = 1_000_000
  const s = createCacheStore({ state: down, keys: createKeys('t'), memoryBytes: 1 << 20, now: () => now, log, retryMs: 0 })
  await s.ready()
  assert.equal(await s.get('k'), undefined)
  await s.put('k', entry('h/a', { tags: ['t'] }), 60_000)
  assert.equal(s.getLocal('k')?.url, 'h/a', 'memory serves')
  assert.equal((await s.get('k'))?.url, 'h/a')
  await s.setVary('p', ['accept'], 60_000)
  assert.deepEqual(await s.getVary('p'), ['accept'])
  assert.equal(await s.getVary('q'), undefined)
  assert.equal(await s.lock('k', 1000), 'unavailable')
  await s.release('k')
  assert.equal(await s.purge({ tag: 't' }), 0)
  assert.equal(s.getLocal('k'), undefined, 'the purge still clears this worker\'s memory')
  assert.ok(s.stats().faults >= 4)
  assert.equal(log.warns, 1, 'one warning per interval')
  now += 10_000
  assert.equal(await s.get('other'), undefined)
  assert.equal(log.warns, 2, 'and another after the interval')
  await s.close()
})

test('a worker whose primary stops answering: get misses within the IPC timeout, and the store recovers without restart', async () => {
  const primary = new EmbeddedStore({ sweepMs: 0 })
  const { a, b, drop } = ipcPair()
  attachStateWorker(primary, a)
  const w = createIpcState({ channel: b, timeoutMs: 100 })
  const s = createCacheStore({ state: w, keys: createKeys('t'), memoryBytes: 1 << 20, now: Date.now, log: counting(), retryMs: 50 })
  await s.ready()
  drop.value = true
  assert.equal(await s.get('k'), undefined)
  assert.equal(s.stats().degraded, true)
  await s.put('k', entry('h/a'), 60_000)
  drop.value = false
  const keys = createKeys('t')
  assert.equal(await primary.get(keys.key('cache', 'k')), undefined, 'the put during the fault stayed in memory')
  await new Promise((resolve) => setTimeout(resolve, 60))
  await s.put('k2', entry('h/b'), 60_000)
  assert.ok(await primary.get(keys.key('cache', 'k2')) !== undefined, 'back on the shared level')
  assert.equal(s.stats().degraded, false)
  await s.close()
  await w.close()
  await primary.close()
})

/** `state` with its calls counted, and subscribe optionally failing (as with Redis down when the store started). */
function instrumented (state: SharedState, o: { failSubscribe: boolean }): { state: SharedState, calls: Map<string, number> } {
  const calls = new Map<string, number>()
  const proxy = new Proxy(state, {
    get (target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown
      if (typeof v !== 'function' || typeof prop !== 'string') return v
      return async (...args: unknown[]) => {
        calls.set(prop, (calls.get(prop) ?? 0) + 1)
        if (prop === 'subscribe' && o.failSubscribe) throw new StateUnavailableError('subscribe refused (test)')
        return await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args)
      }
    }
  })
  return { state: proxy, calls }
}

test('a waiter that missed the fill announcement (no subscription) still resolves released once the lock is gone and the entry is there', async (t) => {
  const shared = new EmbeddedStore({ sweepMs: 0 })
  t.after(() => shared.close())
  const keys = createKeys('t')
  const holder = createCacheStore({ state: shared, keys, memoryBytes: 1 << 20, now: Date.now, log: quiet })
  const deaf = instrumented(shared, { failSubscribe: true })
  const waiter = createCacheStore({ state: deaf.state, keys, memoryBytes: 1 << 20, now: Date.now, log: quiet, lockPollMs: 20, retryMs: 0 })
  t.after(async () => { await holder.close(); await waiter.close() })
  await holder.ready()
  await waiter.ready()
  assert.equal(await holder.lock('k', 60_000), 'acquired')
  assert.equal(await waiter.lock('k', 60_000), 'held')
  const w = waiter.waitFill('k', 20_000)
  await holder.put('k', entry('h/a'), 60_000)
  await holder.release('k')
  assert.equal(await w, 'released')
  assert.equal((await waiter.get('k'))?.url, 'h/a')
})

test('many waiters on one key cost no extra subscription, one poll loop, and no SET NX beyond the first', async (t) => {
  const shared = new EmbeddedStore({ sweepMs: 0 })
  t.after(() => shared.close())
  const keys = createKeys('t')
  const holder = createCacheStore({ state: shared, keys, memoryBytes: 1 << 20, now: Date.now, log: quiet })
  const counted = instrumented(shared, { failSubscribe: false })
  const s = createCacheStore({ state: counted.state, keys, memoryBytes: 1 << 20, now: Date.now, log: quiet, lockPollMs: 10 })
  t.after(async () => { await holder.close(); await s.close() })
  await holder.ready()
  await s.ready()
  const subscribes = counted.calls.get('subscribe')
  assert.equal(subscribes, 2, 'the fill and purge channels, once each')
  assert.equal(await holder.lock('k', 60_000), 'acquired')
  assert.equal(await s.lock('k', 60_000), 'held')
  const waits = [s.waitFill('k', 20_000)]
  for (let i = 0; i < 99; i++) {
    assert.equal(await s.lock('k', 60_000), 'held')
    waits.push(s.waitFill('k', 20_000))
  }
  assert.equal(counted.calls.get('setIfAbsent'), 1, 'one SET NX: the others knew this worker already waits')
  await waitFor(() => (counted.calls.get('getMany') ?? 0) >= 3, 'three polls', 5000, 5)
  assert.ok((counted.calls.get('getMany') ?? 0) < 100, 'polls are per key, not per waiter')
  await holder.put('k', entry('h/a'), 60_000)
  await holder.release('k')
  assert.deepEqual(new Set(await Promise.all(waits)), new Set(['released']))
  assert.equal(counted.calls.get('subscribe'), subscribes)
})
