// The cache store against one shared-state setup with several clients (workers, hosts): the shared level, fill
// locks and waits, purge reaching other stores' memory, Vary records. Run by store.test.ts (embedded) and
// store-redis.test.ts (single Redis, Cluster). Each test gets a fresh key prefix.
import { describe, test, before, after, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createKeys, type SharedState } from '../../../src/state/index.ts'
import { createCacheStore, type CacheStoreHandle, type CacheStoreLog } from '../../../src/cache/store/index.ts'
import { waitFor } from '../../helpers/index.ts'
import { entry, plain } from './store-fixtures.ts'

export interface SharedSetup {
  /** At least two clients of one backing store: each stands for another worker or host. */
  readonly states: readonly SharedState[]
  close (): Promise<void>
}

export const quiet: CacheStoreLog = { warn () {}, info () {} }

let run = 0

/** `n` stores over the setup's clients in turn, on a fresh prefix; closed after the test. */
export async function stores (t: TestContext, states: readonly SharedState[], n: number, o: { lockPollMs?: number } = {}): Promise<CacheStoreHandle[]> {
  const keys = createKeys(`swycache-${process.pid}-${Date.now().toString(36)}-${run++}`)
  const out = Array.from({ length: n }, (_, i) => createCacheStore({
    state: states[i % states.length]!, keys, memoryBytes: 1 << 20, now: Date.now, log: quiet, lockPollMs: o.lockPollMs ?? 50
  }))
  t.after(async () => { for (const s of out) await s.close() })
  await Promise.all(out.map(async (s) => { await s.ready() }))
  return out
}

export function storeSuite (name: string, open: () => Promise<SharedSetup>): void {
  describe(`cache store: ${name}`, () => {
    let h: SharedSetup
    before(async () => { h = await open() })
    after(async () => { await h.close() })

    test('a put is visible to another store (another worker), which copies it into its memory', async (t) => {
      const [a, b] = await stores(t, h.states, 2)
      const e = entry('h/a', { tags: ['t'] })
      await a!.put('k', e, 60_000)
      assert.deepEqual(plain(a!.getLocal('k')), plain(e))
      assert.equal(b!.getLocal('k'), undefined, 'not in b\'s memory yet')
      assert.deepEqual(plain(await b!.get('k')), plain(e))
      assert.deepEqual(plain(b!.getLocal('k')), plain(e), 'copied into b\'s memory')
      assert.equal(await b!.get('missing'), undefined)
    })

    test('the shared copy expires with its TTL', async (t) => {
      const [a, b] = await stores(t, h.states, 2)
      await a!.put('k', entry('h/a'), 150)
      await waitFor(async () => await b!.get('k') === undefined, 'the shared entry to expire', 5000, 25)
      assert.equal(a!.getLocal('k'), undefined, 'and the memory copy with it')
    })

    test('Vary record round trip through the shared level', async (t) => {
      const [a, b] = await stores(t, h.states, 2)
      await a!.setVary('p', ['accept-encoding', 'accept-language'], 60_000)
      assert.deepEqual(a!.getVaryLocal('p'), ['accept-encoding', 'accept-language'])
      assert.equal(b!.getVaryLocal('p'), undefined)
      assert.deepEqual(await b!.getVary('p'), ['accept-encoding', 'accept-language'])
      assert.deepEqual(b!.getVaryLocal('p'), ['accept-encoding', 'accept-language'])
      await a!.setVary('empty', [], 60_000)
      assert.deepEqual(await b!.getVary('empty'), [])
      assert.equal(await b!.getVary('none'), undefined)
    })

    test('lock: of 40 concurrent lock() calls from four stores exactly one acquires', async (t) => {
      const ss = await stores(t, h.states, 4)
      const results = await Promise.all(Array.from({ length: 40 }, async (_, i) => await ss[i % 4]!.lock('k', 60_000)))
      assert.equal(results.filter((r) => r === 'acquired').length, 1)
      assert.equal(results.filter((r) => r === 'held').length, 39)
    })

    test('waitFill resolves released for every waiter on every store when the holder releases', async (t) => {
      const ss = await stores(t, h.states, 4)
      assert.equal(await ss[0]!.lock('k', 60_000), 'acquired')
      const waits = ss.flatMap((s) => Array.from({ length: 5 }, async () => await s.waitFill('k', 20_000)))
      await ss[0]!.put('k', entry('h/a'), 60_000)
      await ss[0]!.release('k')
      assert.deepEqual(await Promise.all(waits), Array.from({ length: 20 }, () => 'released'))
      for (const s of ss) assert.equal((await s.get('k'))?.url, 'h/a')
      assert.equal(await ss[1]!.lock('k', 60_000), 'acquired', 'the lock is free again')
    })

    test('waitFill resolves expired when the holder never releases and its lock TTL passes', async (t) => {
      const [a, b] = await stores(t, h.states, 2)
      assert.equal(await a!.lock('k', 300), 'acquired')
      const results = await Promise.all([b!.waitFill('k', 20_000), b!.waitFill('k', 20_000), a!.waitFill('k', 20_000)])
      assert.deepEqual(results, ['expired', 'expired', 'expired'])
      assert.equal(await b!.lock('k', 60_000), 'acquired', 'another store takes over')
      // The dead holder's late release must not drop the new holder's lock.
      await a!.release('k')
      assert.equal(await a!.lock('k', 60_000), 'held')
    })

    test('waitFill resolves timeout while the lock is still held', async (t) => {
      const [a, b] = await stores(t, h.states, 2)
      assert.equal(await a!.lock('k', 60_000), 'acquired')
      assert.equal(await b!.waitFill('k', 200), 'timeout')
      assert.equal(await a!.lock('k', 60_000), 'held')
    })

    test('coalescing: 200 concurrent misses over four stores make exactly one fetch, and all get the entry', async (t) => {
      const ss = await stores(t, h.states, 4)
      let fetches = 0
      // What the stage does on a miss.
      const serve = async (s: CacheStoreHandle): Promise<string | undefined> => {
        for (let attempt = 0; attempt < 5; attempt++) {
          const hit = await s.get('k')
          if (hit !== undefined) return hit.url
          const l = await s.lock('k', 10_000)
          if (l === 'acquired') {
            fetches++
            await new Promise((resolve) => setTimeout(resolve, 50))
            await s.put('k', entry('h/cold'), 60_000)
            await s.release('k')
            return 'h/cold'
          }
          if (l === 'unavailable') return undefined
          await s.waitFill('k', 10_000)
        }
        return undefined
      }
      const got = await Promise.all(Array.from({ length: 200 }, async (_, i) => await serve(ss[i % 4]!)))
      assert.equal(fetches, 1)
      assert.ok(got.every((u) => u === 'h/cold'))
    })

    const purges = [
      {
        name: 'by url: every variant of it',
        selector: { url: 'h/a' },
        removed: ['a1', 'a2'],
        kept: ['ab', 'b', 'c']
      },
      {
        name: 'by url prefix',
        selector: { prefix: 'h/a' },
        removed: ['a1', 'a2', 'ab'],
        kept: ['b', 'c']
      },
      {
        name: 'by tag',
        selector: { tag: 'red' },
        removed: ['a1', 'b'],
        kept: ['a2', 'ab', 'c']
      }
    ]
    for (const p of purges) {
      test(`purge ${p.name} removes from the shared level and from every store's memory within 1 s`, async (t) => {
        // `fresh` reads nothing before the purge, so its reads after it come from the shared level.
        const [a, b, c, fresh] = await stores(t, h.states, 4)
        const ss = [a!, b!, c!]
        await a!.put('a1', entry('h/a', { tags: ['red'] }), 60_000)
        await a!.put('a2', entry('h/a', { tags: ['blue'] }), 60_000)
        await a!.put('ab', entry('h/ab'), 60_000)
        await a!.put('b', entry('h/b', { tags: ['red', 'blue'] }), 60_000)
        await a!.put('c', entry('x/a'), 60_000)
        const all = [...p.removed, ...p.kept]
        for (const k of all) {
          assert.ok(await b!.get(k) !== undefined)
          assert.ok(await c!.get(k) !== undefined)
        }
        assert.equal(await c!.purge(p.selector), p.removed.length)
        // The sender drops its own copies at once; the others within the 1 s.
        for (const k of p.removed) assert.equal(c!.getLocal(k), undefined)
        await waitFor(() => ss.every((s) => p.removed.every((k) => s.getLocal(k) === undefined)), 'every store to drop the purged entries', 1000, 10)
        for (const k of p.kept) for (const s of ss) assert.ok(s.getLocal(k) !== undefined, `${k} stays`)
        for (const k of p.removed) assert.equal(await fresh!.get(k), undefined, `${k} is gone from the shared level`)
        for (const k of p.kept) assert.ok(await fresh!.get(k) !== undefined, `${k} stays in the shared level`)
        assert.equal(await a!.purge(p.selector), 0, 'nothing left to purge')
      })
    }

    test('a purged url stored again is served again, and its index is rebuilt', async (t) => {
      const [a, b] = await stores(t, h.states, 2)
      await a!.put('k', entry('h/a'), 60_000)
      assert.equal(await b!.purge({ url: 'h/a' }), 1)
      await a!.put('k', entry('h/a'), 60_000)
      assert.equal((await b!.get('k'))?.url, 'h/a')
      assert.equal(await b!.purge({ prefix: 'h/' }), 1)
    })
  })
}
