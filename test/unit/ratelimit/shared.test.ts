// The leased limiter with a fake SharedState and a hand-moved clock: batching, shrinking leases, one refill per key,
// lapsing leases, never more than the shared bucket gives, and the local fallback share while state is down.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createSharedLimiter, type RateRule, type SharedLimiterOptions } from '../../../src/ratelimit/index.ts'
import { FakeState, Clock, recordingLog, take, admitted } from './fakes.ts'
import { limiterContract } from './contract.ts'

function create (rule: RateRule, clock: Clock, state = new FakeState(), o: Partial<SharedLimiterOptions> = {}) {
  return createSharedLimiter({ state, rule, stateKey: (k) => `{t:rl:${k}}`, workers: 1, now: clock.now, log: recordingLog(), maxKeys: 100, ...o })
}

limiterContract('shared (fake state)', (rule, clock) => create(rule, clock))

const big: RateRule = { ratePerSec: 1000, count: 1000, windowSec: 1, burst: 1000 }

test('a key with tokens leased is decided synchronously, with one state call per lease', async () => {
  const clock = new Clock()
  const state = new FakeState()
  const l = create(big, clock, state, { workers: 2 })
  assert.equal(await take(l, 'a'), 0)
  let sync = 0
  for (let i = 0; i < 500; i++) {
    const d = l.take('a')
    if (typeof d === 'number') { sync++; assert.equal(d, 0) } else assert.equal(await d, 0)
  }
  // maxLease = a tenth of a second's worth = 100: 501 requests need 6 leases.
  assert.equal(state.calls.length, 6)
  assert.equal(sync, 495)
  assert.ok(state.calls.every((c) => c.want <= 100))
})

test('leases shrink as the shared bucket nears empty, down to one token', async () => {
  const clock = new Clock()
  const state = new FakeState()
  const rule: RateRule = { ratePerSec: 100, count: 100, windowSec: 1, burst: 100 }
  const l = create(rule, clock, state, { workers: 2, maxLease: 50 })
  assert.equal(await admitted(l, 'a', 100), 100)
  const wants = state.calls.map((c) => c.want)
  // floor(tokens / (2 × workers)): 100 → 25, 75 → 18, 57 → 14, …, down to 1 near empty.
  assert.deepEqual(wants.slice(0, 3), [25, 18, 14])
  assert.equal(wants.at(-1), 1)
  for (let i = 1; i < wants.length; i++) assert.ok(wants[i]! <= wants[i - 1]!, `non-increasing: ${wants.join(',')}`)
})

test('two workers on one bucket never admit more than it holds', async () => {
  const clock = new Clock()
  const state = new FakeState()
  const rule: RateRule = { ratePerSec: 50, count: 50, windowSec: 1, burst: 20 }
  const a = create(rule, clock, state, { workers: 2 })
  const b = create(rule, clock, state, { workers: 2 })
  let ok = 0
  for (let step = 0; step < 100; step++) {
    for (let i = 0; i < 3; i++) {
      if (await take(a, 'k') === 0) ok++
      if (await take(b, 'k') === 0) ok++
    }
    clock.advance(10)
  }
  // 1 s at 50/s + burst 20 is the most; leases lapse unused at most one each (lease ≤ 5, here 1 near empty).
  assert.ok(ok <= 20 + 50, `admitted ${ok}`)
  assert.ok(ok >= 20 + 50 - 4, `admitted ${ok}`)
})

test('one refill in flight per key: concurrent requests wait on it and share its lease', async () => {
  const clock = new Clock()
  const state = new FakeState()
  state.held = []
  // burst 20: the first lease would be floor(20 / 2) = 10, but 15 are waiting.
  const l = create({ ...big, burst: 20 }, clock, state)
  const pending = Array.from({ length: 15 }, () => l.take('a'))
  assert.ok(pending.every((p) => typeof p !== 'number'))
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(state.calls.length, 1)
  assert.equal(state.calls[0]!.want, 15, 'asks for the waiters it has')
  state.release()
  assert.deepEqual(await Promise.all(pending), Array(15).fill(0))
  assert.equal(state.calls.length, 1)
})

test('an unused lease lapses after leaseMs, and an empty bucket is not asked again before its retry time', async () => {
  const clock = new Clock()
  const state = new FakeState()
  const l = create(big, clock, state, { leaseMs: 500 })
  await take(l, 'a')
  assert.equal(state.calls.length, 1)
  clock.advance(499)
  await take(l, 'a')
  assert.equal(state.calls.length, 1)
  clock.advance(2)
  await take(l, 'a')
  assert.equal(state.calls.length, 2, 'the old lease lapsed')

  const small: RateRule = { ratePerSec: 10, count: 10, windowSec: 1, burst: 1 }
  const s = create(small, clock, state)
  assert.equal(await take(s, 'b'), 0)
  const before = state.calls.length
  const d = await take(s, 'b')
  assert.ok(d > 0)
  assert.equal(state.calls.length, before + 1)
  for (let i = 0; i < 50; i++) assert.ok(await take(s, 'b') > 0)
  assert.equal(state.calls.length, before + 1, 'refusals are cached until the retry time')
  clock.advance(d)
  assert.equal(await take(s, 'b'), 0)
})

test('state down: the local share (rate / workers) decides, one warning, and shared mode returns by itself', async () => {
  const clock = new Clock()
  const state = new FakeState()
  const log = recordingLog()
  const rule: RateRule = { ratePerSec: 40, count: 40, windowSec: 1, burst: 8 }
  const l = create(rule, clock, state, { workers: 4, log, retryMs: 1000, warnEveryMs: 10_000 })
  state.fail = true
  // The failed refill answers from the fallback share: burst 8 / 4 = 2, rate 10/s.
  assert.equal(await admitted(l, 'a', 10), 2)
  assert.equal(l.mode, 'local')
  const calls = state.calls.length
  clock.advance(500)
  assert.equal(await admitted(l, 'a', 10), 2, '0.5 s × 10/s, capped at the share\'s burst 2')
  assert.equal(state.calls.length, calls, 'no state calls before retryMs')
  for (let i = 0; i < 5; i++) { clock.advance(1000); await admitted(l, 'a', 3) }
  assert.equal(log.lines.filter((s) => s.startsWith('warn')).length, 1)
  state.fail = false
  clock.advance(1000)
  assert.equal(await take(l, 'a'), 0)
  assert.equal(l.mode, 'shared')
  assert.ok(log.lines.some((s) => s.startsWith('info: rate limit: shared state is back')))
})
