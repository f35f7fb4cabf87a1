// The contract every Limiter passes: burst then refusal, refill at the rate, keys independent, retry hints.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Limiter, RateRule } from '../../../src/ratelimit/index.ts'
import { Clock, admitted, take } from './fakes.ts'

export function limiterContract (name: string, create: (rule: RateRule, clock: Clock) => Limiter): void {
  const rule: RateRule = { ratePerSec: 10, count: 10, windowSec: 1, burst: 5 }

  test(`${name}: admits the burst at once, then refuses with a retry hint`, async () => {
    const clock = new Clock()
    const l = create(rule, clock)
    assert.equal(await admitted(l, 'a', 20), 5)
    const d = await take(l, 'a')
    assert.ok(d > 0 && d <= 100, `retry hint ${d} ms is within one token's time`)
  })

  test(`${name}: refills at the rate`, async () => {
    const clock = new Clock()
    const l = create(rule, clock)
    assert.equal(await admitted(l, 'a', 5), 5)
    clock.advance(1000)
    assert.equal(await admitted(l, 'a', 20), 5, 'a second refills 10, capped at burst 5')
    clock.advance(300)
    assert.equal(await admitted(l, 'a', 20), 3)
  })

  test(`${name}: keys are independent`, async () => {
    const clock = new Clock()
    const l = create(rule, clock)
    assert.equal(await admitted(l, 'a', 10), 5)
    assert.equal(await admitted(l, 'b', 10), 5)
  })

  test(`${name}: a flood of distinct keys keeps memory bounded`, async () => {
    const clock = new Clock()
    const l = create(rule, clock)
    for (let i = 0; i < 300; i++) await take(l, `k${i}`)
    assert.ok(l.size <= 100, `size ${l.size}`)
  })
}
