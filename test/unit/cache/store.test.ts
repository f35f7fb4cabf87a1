// The cache store on the embedded shared level: the primary's store in-process and two workers reaching it over
// in-memory IPC channels; and the fault path on a store that is down (every call a StateUnavailableError).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EmbeddedStore, attachStateWorker, createIpcState, createKeys } from '../../../src/state/index.ts'
import { createCacheStore } from '../../../src/cache/store.ts'
import { ipcPair } from '../state/pair.ts'
import { storeSuite } from './store-suite.ts'
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
