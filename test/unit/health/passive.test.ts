// Passive detection in one worker, with a fake clock and mocked timers: when a server is ejected, for how long,
// how that grows and decays, and how it combines with the primary's active-check verdicts.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createServerStates, type EjectionEvent, type PassiveConfig } from '../../../src/health/index.ts'
import type { Target } from '../../../src/balancer/index.ts'

function setup (t: TestContext, n: number, config: Partial<PassiveConfig> = {}): { targets: Target[], events: EjectionEvent[], clock: { now: number }, states: ReturnType<typeof createServerStates>, advance: (ms: number) => void } {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const targets: Target[] = Array.from({ length: n }, (_, index) => ({ index, url: `http://10.0.0.${index + 1}:80`, weight: 1, inflight: 0, healthy: true }))
  const events: EjectionEvent[] = []
  const clock = { now: 1_000_000 }
  const states = createServerStates({
    targets,
    config: { failures: 3, eject_for: 1000, max_eject_for: 5000, max_ejected_percent: 50, ...config },
    now: () => clock.now,
    onEvent: (e) => { events.push(e) }
  })
  const advance = (ms: number): void => { clock.now += ms; t.mock.timers.tick(ms) }
  return { targets, events, clock, states, advance }
}

test('consecutive failures eject a server; a success in between starts the count again', (t) => {
  const { targets, events, states } = setup(t, 3)
  const a = targets[0]!
  states.failure(a, 'ECONNREFUSED')
  states.failure(a, 'ECONNREFUSED')
  states.response(a, 200)
  states.failure(a, 'ECONNREFUSED')
  states.response(a, 503)
  assert.equal(a.healthy, true, 'two in a row since the last success')
  states.response(a, 502)
  assert.equal(a.healthy, false)
  assert.deepEqual(events, [{ url: a.url, ejected: true, forMs: 1000, failures: 3, reason: 'status 502' }])
  assert.ok(targets.slice(1).every((x) => x.healthy))
})

test('an ejection ends after eject_for; a repeat doubles it up to max_eject_for; a calm period resets the doubling', (t) => {
  const { targets, events, states, advance } = setup(t, 3)
  const a = targets[0]!
  const eject = (): void => { for (let i = 0; i < 3; i++) states.failure(a, 'ECONNRESET') }
  const lengths: number[] = []
  for (let round = 0; round < 5; round++) {
    eject()
    assert.equal(a.healthy, false)
    lengths.push(events.at(-1)!.forMs)
    advance(events.at(-1)!.forMs - 1)
    assert.equal(a.healthy, false, 'still out 1 ms before the end')
    advance(1)
    assert.equal(a.healthy, true, 'back at the end')
    assert.equal(events.at(-1)!.ejected, false)
  }
  assert.deepEqual(lengths, [1000, 2000, 4000, 5000, 5000])
  advance(5001)
  eject()
  assert.equal(events.at(-1)!.forMs, 1000, 'after max_eject_for without an ejection, back to eject_for')
})

test('at most max_ejected_percent of the servers are out at once (at least one of two or more); a lone server never', (t) => {
  const four = setup(t, 4)
  for (const x of four.targets) for (let i = 0; i < 3; i++) four.states.failure(x, 'ECONNREFUSED')
  assert.deepEqual(four.targets.map((x) => x.healthy), [false, false, true, true])
  t.mock.timers.reset()

  const two = setup(t, 2, { max_ejected_percent: 0 })
  for (const x of two.targets) for (let i = 0; i < 3; i++) two.states.failure(x, 'ECONNREFUSED')
  assert.deepEqual(two.targets.map((x) => x.healthy), [false, true])
  t.mock.timers.reset()

  const one = setup(t, 1, { max_ejected_percent: 100 })
  for (let i = 0; i < 10; i++) one.states.failure(one.targets[0]!, 'ECONNREFUSED')
  assert.equal(one.targets[0]!.healthy, true)
  assert.equal(one.events.length, 0)
})

test('failures: 0 turns it off', (t) => {
  const { targets, states } = setup(t, 3, { failures: 0 })
  for (let i = 0; i < 50; i++) states.failure(targets[0]!, 'ECONNREFUSED')
  assert.equal(targets[0]!.healthy, true)
})

test('healthy is checked && not ejected: an active verdict and an ejection each keep a server out', (t) => {
  const { targets, states, advance } = setup(t, 3)
  const a = targets[0]!
  states.setChecked([false, true, true])
  assert.equal(a.healthy, false)
  for (let i = 0; i < 3; i++) states.failure(a, 'ECONNREFUSED')
  states.setChecked([true, true, true])
  assert.equal(a.healthy, false, 'still ejected')
  advance(1000)
  assert.equal(a.healthy, true)
  states.setChecked([false])
  assert.equal(a.healthy, false, 'a shorter vector leaves the other servers alone')
  assert.equal(targets[1]!.healthy, true)
})

test('counters: in-flight, errors of the last minute or two, ejected', (t) => {
  const { targets, states, clock } = setup(t, 2)
  targets[1]!.inflight = 4
  states.failure(targets[0]!, 'ECONNREFUSED')
  clock.now += 60_000
  states.failure(targets[0]!, 'ECONNREFUSED')
  assert.deepEqual(states.counters(), [{ inflight: 0, recentErrors: 2, ejected: false }, { inflight: 4, recentErrors: 0, ejected: false }])
  clock.now += 60_000
  assert.equal(states.counters()[0]!.recentErrors, 1)
  clock.now += 60_000
  assert.equal(states.counters()[0]!.recentErrors, 0)
})
