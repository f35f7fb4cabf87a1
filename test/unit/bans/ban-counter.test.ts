// The rejection counter on an injected clock: batching (no state call per rejection), the shared threshold across
// workers, a worker's own count banning alone, the fixed window, and faults.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createBanCounter, type BanCounter } from '../../../src/bans/index.ts'
import { EmbeddedStore, StateUnavailableError } from '../../../src/state/index.ts'
import { Clock, recordingLog } from '../ratelimit/fakes.ts'

class CountingState {
  readonly store: EmbeddedStore
  calls = 0
  fail = false
  constructor (now: () => number) { this.store = new EmbeddedStore({ now, sweepMs: 0 }) }
  readonly incr = async (key: string, by: number, ttlMs: number): Promise<number> => {
    this.calls++
    if (this.fail) throw new StateUnavailableError('down')
    return await this.store.incr(key, by, ttlMs)
  }
}

function counter (state: CountingState, clock: Clock, bans: Array<[string, number]>, o: { after: number, flushAt?: number, log?: ReturnType<typeof recordingLog> }): BanCounter {
  return createBanCounter({
    state,
    rule: { after: o.after, within: 60_000, for: 600_000 },
    stateKey: (k) => `{c:${k}}`,
    onBan: (k, exp) => { bans.push([k, exp]) },
    now: clock.now,
    log: o.log ?? recordingLog(),
    flushMs: 0,
    ...(o.flushAt === undefined ? {} : { flushAt: o.flushAt })
  })
}

test('rejections are counted locally and sent as one increment per key per flush', async () => {
  const clock = new Clock()
  const state = new CountingState(clock.now)
  const bans: Array<[string, number]> = []
  const c = counter(state, clock, bans, { after: 1000, flushAt: 1000 })
  for (let i = 0; i < 300; i++) c.record('10.0.0.1')
  for (let i = 0; i < 5; i++) c.record('10.0.0.2')
  assert.equal(state.calls, 0, 'no state call per rejection')
  await c.flush()
  assert.equal(state.calls, 2)
  assert.equal(await state.store.incr('{c:10.0.0.1}', 0, 1), 300)
  await c.flush()
  assert.equal(state.calls, 2, 'nothing new, nothing sent')
  assert.deepEqual(bans, [])
})

test('the shared count from several workers reaches `after`: the next flush bans, once', async () => {
  const clock = new Clock()
  const state = new CountingState(clock.now)
  const bans: Array<[string, number]> = []
  const workers = [0, 1, 2].map(() => counter(state, clock, bans, { after: 10, flushAt: 100 }))
  for (let i = 0; i < 9; i++) workers[i % 3]!.record('k')
  await Promise.all(workers.map(async (w) => { await w.flush() }))
  assert.deepEqual(bans, [], '9 of 10')
  workers[1]!.record('k')
  await workers[1]!.flush()
  assert.deepEqual(bans, [['k', clock.t + 600_000]])
  await Promise.all(workers.map(async (w) => { await w.flush() }))
  assert.equal(bans.length, 1)
})

test('a key whose unflushed count reaches flushAt is sent at once', async () => {
  const clock = new Clock()
  const state = new CountingState(clock.now)
  const c = counter(state, clock, [], { after: 100, flushAt: 4 })
  for (let i = 0; i < 3; i++) c.record('k')
  assert.equal(state.calls, 0)
  c.record('k')
  assert.equal(state.calls, 1)
})

test('flushAt defaults to after / (2 × workers)', async () => {
  const clock = new Clock()
  const state = new CountingState(clock.now)
  const c = createBanCounter({ state, rule: { after: 20, within: 60_000, for: 1000 }, stateKey: (k) => k, onBan () {}, now: clock.now, log: recordingLog(), flushMs: 0, workers: 2 })
  for (let i = 0; i < 4; i++) c.record('k')
  assert.equal(state.calls, 0)
  c.record('k')
  assert.equal(state.calls, 1)
})

test('one worker that alone counts `after` within its window bans at once, with no state call (and with state down)', () => {
  const clock = new Clock()
  const state = new CountingState(clock.now)
  state.fail = true
  const bans: Array<[string, number]> = []
  const c = counter(state, clock, bans, { after: 5, flushAt: 1000 })
  for (let i = 0; i < 4; i++) c.record('k')
  assert.deepEqual(bans, [])
  c.record('k')
  assert.deepEqual(bans, [['k', clock.t + 600_000]])
  assert.equal(state.calls, 0)
})

test('the window is fixed: counts from an earlier window do not add up', () => {
  const clock = new Clock()
  const state = new CountingState(clock.now)
  state.fail = true
  const bans: Array<[string, number]> = []
  const c = counter(state, clock, bans, { after: 5, flushAt: 1000 })
  for (let i = 0; i < 4; i++) c.record('k')
  clock.advance(60_000)
  for (let i = 0; i < 4; i++) c.record('k')
  assert.deepEqual(bans, [])
  c.record('k')
  assert.equal(bans.length, 1)
})

test('state down: counting goes on locally, one warning per interval, and shared counting resumes after', async () => {
  const clock = new Clock()
  const state = new CountingState(clock.now)
  const log = recordingLog()
  const bans: Array<[string, number]> = []
  const c = counter(state, clock, bans, { after: 10, flushAt: 1000, log })
  state.fail = true
  for (let i = 0; i < 3; i++) { c.record('k'); await c.flush() }
  assert.deepEqual(log.lines, ['warn: bans: shared state unavailable; counting rejections on this worker only'])
  state.fail = false
  // Another worker's counts meanwhile.
  await state.store.incr('{c:k}', 8, 60_000)
  c.record('k')
  await c.flush()
  assert.equal(log.lines.at(-1), 'info: bans: shared rejection counts are back')
  // The 3 outage counts were not re-sent (8 + 1 = 9), but this worker's own window holds 4.
  assert.deepEqual(bans, [])
  c.record('k')
  await c.flush()
  assert.equal(bans.length, 1)
})
