// The embedded store in-process (and a second worker through an in-memory IPC pair), expiry on an injected clock,
// and the worker client's bounded timeout when the primary does not answer.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EmbeddedStore, attachStateWorker, createIpcState } from '../../../src/state/index.ts'
import { stateContract } from './contract.ts'
import { ipcPair } from './pair.ts'

stateContract('embedded, in-process (+ a worker over an in-memory channel)', async () => {
  const state = new EmbeddedStore({ sweepMs: 50 })
  const { a, b } = ipcPair()
  const detach = attachStateWorker(state, a)
  const other = createIpcState({ channel: b, timeoutMs: 2000 })
  return {
    state,
    other,
    async close () { detach(); await other.close(); await state.close() }
  }
}, { twoClients: true })

test('expiry follows the injected clock: lazily on read, and by the sweep', async () => {
  let now = 1000
  const s = new EmbeddedStore({ now: () => now, sweepMs: 0 })
  await s.set('a', Uint8Array.of(1), 100)
  await s.set('b', Uint8Array.of(2), 100)
  await s.set('c', Uint8Array.of(3))
  assert.equal(await s.incr('n', 1, 50), 1)
  now = 1049
  assert.deepEqual([...await s.get('a') ?? []], [1])
  assert.equal(await s.incr('n', 1, 50), 2)
  now = 1050
  assert.equal(await s.incr('n', 1, 50), 1, 'a new window once the old one ends')
  now = 1100
  assert.equal(await s.get('a'), undefined)
  assert.equal(s.size, 3, 'b and n are still held until swept or read')
  assert.equal(s.sweep(), 2)
  assert.equal(s.size, 1)
  assert.deepEqual([...await s.get('c') ?? []], [3])
  await s.close()
})

test('a counter reads as its decimal digits, as from Redis', async () => {
  const s = new EmbeddedStore({ sweepMs: 0 })
  await s.incr('n', 42, 60_000)
  assert.equal(Buffer.from(await s.get('n') ?? []).toString(), '42')
  await s.close()
})

test('calls after close reject with SWY_STATE_UNAVAILABLE', async () => {
  const s = new EmbeddedStore({ sweepMs: 0 })
  await s.close()
  await assert.rejects(s.get('a'), { code: 'SWY_STATE_UNAVAILABLE', name: 'StateUnavailableError' })
  const { b } = ipcPair()
  const c = createIpcState({ channel: b })
  await c.close()
  await assert.rejects(c.incr('a', 1, 10), { code: 'SWY_STATE_UNAVAILABLE' })
})

test('a worker whose primary does not answer gets StateUnavailableError within the bounded timeout', async () => {
  const store = new EmbeddedStore({ sweepMs: 0 })
  const { a, b, drop } = ipcPair()
  attachStateWorker(store, a)
  const c = createIpcState({ channel: b, timeoutMs: 100 })
  assert.equal(await c.incr('x', 1, 60_000), 1)
  drop.value = true
  const started = Date.now()
  await assert.rejects(c.takeTokens('tb', { ratePerSec: 1, burst: 1, want: 1, nowMs: 0 }), { code: 'SWY_STATE_UNAVAILABLE' })
  // Generous bound: the point is that it ends, not how fast.
  assert.ok(Date.now() - started < 5000)
  drop.value = false
  assert.equal(await c.incr('x', 1, 60_000), 2, 'recovers once the primary answers again')
  b.connected = false
  await assert.rejects(c.get('x'), { code: 'SWY_STATE_UNAVAILABLE' })
  await c.close()
  await store.close()
})

test('a store fault in the primary reaches the worker as StateUnavailableError', async () => {
  const store = new EmbeddedStore({ sweepMs: 0 })
  const { a, b } = ipcPair()
  attachStateWorker(store, a)
  const c = createIpcState({ channel: b, timeoutMs: 1000 })
  await store.close()
  await assert.rejects(c.get('x'), { code: 'SWY_STATE_UNAVAILABLE' })
  await c.close()
})
