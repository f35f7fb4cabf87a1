// The SharedState contract: every store (embedded in-process, embedded over IPC, Redis, Redis Cluster) passes it.
// Keys get a fresh prefix per run, so a suite never reads what another run left behind.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKeys, encode, decode, type SharedState } from '../../../src/state/index.ts'
import { waitFor } from '../../helpers/index.ts'

export interface StateUnderTest {
  readonly state: SharedState
  /** A second client on the same backing store (another worker, another host), when the setup has one. */
  readonly other?: SharedState
  close (): Promise<void>
}

const tick = async (ms = 20): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

export interface ContractOptions {
  /** The setup opens a second client (`other`); the cross-client test is registered only then. */
  readonly twoClients: boolean
}

export function stateContract (name: string, open: () => Promise<StateUnderTest>, o: ContractOptions): void {
  describe(`SharedState contract: ${name}`, () => {
    let h: StateUnderTest
    const k = createKeys(`swytest-${process.pid}-${Date.now().toString(36)}`)
    before(async () => { h = await open() })
    after(async () => { await h.close() })

    test('set then get round-trips every byte value, and an empty value', async () => {
      const all = Uint8Array.from({ length: 256 }, (_, i) => i)
      await h.state.set(k.key('kv', 'bytes'), all)
      assert.deepEqual(new Uint8Array(await h.state.get(k.key('kv', 'bytes')) ?? []), all)
      await h.state.set(k.key('kv', 'empty'), new Uint8Array(0))
      const empty = await h.state.get(k.key('kv', 'empty'))
      assert.ok(empty !== undefined, 'an empty value is still a value')
      assert.equal(empty.byteLength, 0)
    })

    test('values made by the msgpack codec decode to the same thing', async () => {
      const v = { server: 'http://10.0.0.1:80', n: 42, list: [1, 'two', null], nested: { ok: true } }
      await h.state.set(k.key('kv', 'msgpack'), encode(v))
      assert.deepEqual(decode(await h.state.get(k.key('kv', 'msgpack')) ?? new Uint8Array()), v)
    })

    test('get of a missing key is undefined', async () => {
      assert.equal(await h.state.get(k.key('kv', 'missing')), undefined)
    })

    if (o.twoClients) {
      test('a value set by one client is seen by the other', async () => {
        assert.ok(h.other !== undefined, 'this setup promised a second client')
        await h.state.set(k.key('kv', 'shared'), Uint8Array.of(7))
        assert.deepEqual([...await h.other.get(k.key('kv', 'shared')) ?? []], [7])
      })
    }

    test('a key set with a TTL expires; one with a long TTL stays', async () => {
      await h.state.set(k.key('kv', 'short'), Uint8Array.of(1), 100)
      await h.state.set(k.key('kv', 'long'), Uint8Array.of(2), 60_000)
      await waitFor(async () => await h.state.get(k.key('kv', 'short')) === undefined, 'the short key to expire', 5000, 25)
      assert.deepEqual([...await h.state.get(k.key('kv', 'long')) ?? []], [2])
    })

    test('set replaces a value and drops an earlier TTL when given none', async () => {
      await h.state.set(k.key('kv', 'replace'), Uint8Array.of(1), 100)
      await h.state.set(k.key('kv', 'replace'), Uint8Array.of(2))
      await tick(250)
      assert.deepEqual([...await h.state.get(k.key('kv', 'replace')) ?? []], [2])
    })

    test('del removes keys and counts the ones that existed', async () => {
      await h.state.set(k.key('del', 'a'), Uint8Array.of(1))
      await h.state.set(k.key('del', 'b'), Uint8Array.of(2))
      assert.equal(await h.state.del(k.key('del', 'a'), k.key('del', 'b'), k.key('del', 'never')), 2)
      assert.equal(await h.state.get(k.key('del', 'a')), undefined)
      assert.equal(await h.state.del(k.key('del', 'a')), 0)
      assert.equal(await h.state.del(), 0)
    })

    test('setIfAbsent stores only when the key is empty, with a TTL that frees it', async () => {
      const key = k.key('lock', 'nx')
      assert.equal(await h.state.setIfAbsent(key, Uint8Array.of(1), 60_000), true)
      assert.equal(await h.state.setIfAbsent(key, Uint8Array.of(2), 60_000), false)
      assert.deepEqual([...await h.state.get(key) ?? []], [1], 'the first value stays')
      const short = k.key('lock', 'short')
      assert.equal(await h.state.setIfAbsent(short, Uint8Array.of(1), 100), true)
      await waitFor(async () => await h.state.setIfAbsent(short, Uint8Array.of(3), 60_000), 'the short lock to expire and be taken again', 5000, 25)
      assert.deepEqual([...await h.state.get(short) ?? []], [3])
    })

    test('setIfAbsent: of 50 parallel tries from every client exactly one wins', async () => {
      const key = k.key('lock', 'race')
      const clients = h.other === undefined ? [h.state] : [h.state, h.other]
      const won = await Promise.all(Array.from({ length: 50 }, async (_, i) => await clients[i % clients.length]!.setIfAbsent(key, Uint8Array.of(i), 60_000)))
      assert.equal(won.filter(Boolean).length, 1)
      const winner = won.indexOf(true)
      assert.deepEqual([...await h.state.get(key) ?? []], [winner], 'the winner\'s value is stored')
    })

    test('delIfEquals deletes only a key holding exactly that value', async () => {
      const key = k.key('lock', 'cad')
      const token = Uint8Array.from([0, 255, 7, 7])
      await h.state.setIfAbsent(key, token, 60_000)
      assert.equal(await h.state.delIfEquals(key, Uint8Array.from([0, 255, 7])), false, 'a prefix of the value')
      assert.equal(await h.state.delIfEquals(key, Uint8Array.from([0, 255, 7, 8])), false, 'another value')
      assert.ok(await h.state.get(key) !== undefined, 'still held')
      assert.equal(await (h.other ?? h.state).delIfEquals(key, token), true)
      assert.equal(await h.state.get(key), undefined)
      assert.equal(await h.state.delIfEquals(key, token), false, 'already gone')
      assert.equal(await h.state.setIfAbsent(key, Uint8Array.of(1), 60_000), true, 'free again')
    })

    test('getMany reads keys across slots in order, missing ones undefined', async () => {
      const names = Array.from({ length: 20 }, (_, i) => k.key('many', String(i)))
      for (const [i, n] of names.entries()) if (i % 3 !== 0) await h.state.set(n, Uint8Array.of(i))
      const got = await h.state.getMany(names)
      assert.deepEqual(got.map((v) => v === undefined ? undefined : v[0]), names.map((_, i) => i % 3 === 0 ? undefined : i))
      assert.deepEqual(await h.state.getMany([]), [])
    })

    test('incr counts in a fixed window that starts again once the TTL runs out', async () => {
      const key = k.key('incr', 'w')
      assert.equal(await h.state.incr(key, 1, 60_000), 1)
      assert.equal(await h.state.incr(key, 1, 60_000), 2)
      assert.equal(await h.state.incr(key, 5, 60_000), 7)
      const short = k.key('incr', 'short')
      assert.equal(await h.state.incr(short, 3, 150), 3)
      // Later increments do not extend the window: it restarts within bounded time even while being incremented.
      await waitFor(async () => await h.state.incr(short, 1, 150) === 1, 'the window to restart', 5000, 30)
    })

    test('incr from two clients adds up', async (t) => {
      const key = k.key('incr', 'both')
      const clients = h.other === undefined ? [h.state] : [h.state, h.other]
      const results = await Promise.all(Array.from({ length: 100 }, async (_, i) => await clients[i % clients.length]!.incr(key, 1, 60_000)))
      assert.deepEqual([...results].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i + 1))
      if (h.other === undefined) t.diagnostic('one client only')
    })

    test('takeTokens: a new bucket is full; it refills at the rate, caps at burst, and never runs backwards', async () => {
      const key = k.key('rl', 'arith')
      const r = { ratePerSec: 10, burst: 5 }
      const t0 = 1_000_000
      const take = async (want: number, nowMs: number) => await h.state.takeTokens(key, { ...r, want, nowMs })
      assert.deepEqual(await take(3, t0), { granted: 3, tokens: 2, retryAfterMs: 0 })
      assert.deepEqual(await take(3, t0), { granted: 2, tokens: 0, retryAfterMs: 100 })
      assert.deepEqual(await take(1, t0 + 50), { granted: 0, tokens: 0.5, retryAfterMs: 50 })
      assert.deepEqual(await take(1, t0 + 250), { granted: 1, tokens: 1.5, retryAfterMs: 0 })
      assert.deepEqual(await take(4, t0 + 250), { granted: 1, tokens: 0.5, retryAfterMs: 50 })
      // A caller whose clock is behind refills nothing and does not move the bucket back.
      assert.deepEqual(await take(1, t0 - 10_000), { granted: 0, tokens: 0.5, retryAfterMs: 50 })
      assert.deepEqual(await take(10, t0 + 60_000), { granted: 5, tokens: 0, retryAfterMs: 100 })
    })

    test('takeTokens: 200 parallel takes never grant more than the bucket holds', async () => {
      const key = k.key('rl', 'race')
      const clients = h.other === undefined ? [h.state] : [h.state, h.other]
      const nowMs = 5_000_000
      const results = await Promise.all(Array.from({ length: 200 }, async (_, i) =>
        await clients[i % clients.length]!.takeTokens(key, { ratePerSec: 1, burst: 50, want: 1 + (i % 2), nowMs })))
      const granted = results.reduce((a, r) => a + r.granted, 0)
      assert.equal(granted, 50)
      assert.ok(results.every((r) => r.granted >= 0 && r.granted <= 2))
    })

    test('expiring set: add, list live members soonest first, keep the later expiry, remove', async () => {
      const key = k.key('bans', 'set')
      const t0 = Date.now()
      await h.state.addExpiring(key, 'ip 10.0.0.1', t0 + 60_000, t0)
      await h.state.addExpiring(key, 'header:x-user al ice', t0 + 30_000, t0)
      await h.state.addExpiring(key, 'ip ::1', t0 + 90_000, t0)
      // An earlier expiry does not shorten a member; a later one extends it.
      await h.state.addExpiring(key, 'ip 10.0.0.1', t0 + 10_000, t0)
      await h.state.addExpiring(key, 'ip ::1', t0 + 120_000, t0)
      assert.deepEqual(await h.state.listExpiring(key, t0), [
        { member: 'header:x-user al ice', expiresAtMs: t0 + 30_000 },
        { member: 'ip 10.0.0.1', expiresAtMs: t0 + 60_000 },
        { member: 'ip ::1', expiresAtMs: t0 + 120_000 }
      ])
      // Listing at a later time leaves out what has expired by then (the boundary itself is expired).
      assert.deepEqual((await h.state.listExpiring(key, t0 + 60_000)).map((m) => m.member), ['ip ::1'])
      if (h.other !== undefined) assert.equal((await h.other.listExpiring(key, t0)).length, 3, 'seen by the other client')
      assert.equal(await h.state.removeExpiring(key, 'ip ::1', 'ip never'), 1)
      assert.equal(await h.state.removeExpiring(key), 0)
      assert.deepEqual((await h.state.listExpiring(key, t0)).map((m) => m.member), ['header:x-user al ice', 'ip 10.0.0.1'])
      assert.deepEqual(await h.state.listExpiring(k.key('bans', 'missing'), t0), [])
    })

    test('expiring set: adding prunes expired members, and the key goes once its last member has expired', async () => {
      const key = k.key('bans', 'short')
      const t0 = Date.now()
      await h.state.addExpiring(key, 'old', t0 + 50, t0)
      await h.state.addExpiring(key, 'new', t0 + 60_000, t0 + 100)
      // Removing the pruned member finds nothing: it was dropped by the second add, not just hidden by the list.
      assert.equal(await h.state.removeExpiring(key, 'old'), 0)
      const gone = k.key('bans', 'gone')
      await h.state.addExpiring(gone, 'a', Date.now() + 100, Date.now())
      // Listing as of time 0 shows members whatever their expiry: what the store still physically holds.
      assert.equal((await h.state.listExpiring(gone, 0)).length, 1)
      // The key's own TTL is the last expiry plus a second of slack for clock skew between hosts.
      await waitFor(async () => (await h.state.listExpiring(gone, 0)).length === 0, 'the set to expire', 5000, 50)
    })

    test('publish reaches every subscriber of the channel, as bytes; unsubscribe stops delivery', async () => {
      const ch = k.channel('events')
      const fence = k.channel('fence')
      const got: number[][] = []
      const gotOther: number[][] = []
      const fenced: number[] = []
      const off = await h.state.subscribe(ch, (m) => { got.push([...m]) })
      const offOther = h.other === undefined ? undefined : await h.other.subscribe(ch, (m) => { gotOther.push([...m]) })
      const offFence = await h.state.subscribe(fence, (m) => { fenced.push(m[0]!) })
      await (h.other ?? h.state).publish(ch, Uint8Array.of(0, 255, 1))
      await waitFor(() => got.length === 1 && (h.other === undefined || gotOther.length === 1), 'the message', 5000, 10)
      assert.deepEqual(got, [[0, 255, 1]])
      if (h.other !== undefined) assert.deepEqual(gotOther, [[0, 255, 1]])
      await off()
      // Messages on one connection arrive in order: once the fence arrives, the earlier message would have too.
      await h.state.publish(ch, Uint8Array.of(9))
      await h.state.publish(fence, Uint8Array.of(1))
      await waitFor(() => fenced.length === 1, 'the fence message', 5000, 10)
      assert.deepEqual(got, [[0, 255, 1]])
      await offFence()
      await offOther?.()
    })
  })
}
