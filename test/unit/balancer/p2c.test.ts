// Power of two choices: of two random servers the less loaded per weight wins, deterministically under a seed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createP2C } from '../../../src/balancer/p2c.ts'
import type { Target } from '../../../src/balancer/index.ts'
import { balancerContract } from './contract.ts'
import { countPicks, ipCtx, makeTargets, mulberry32, sequence } from './helpers.ts'

balancerContract('p2c', (targets) => createP2C(targets, mulberry32(11)))

test('prefers less loaded servers; the most loaded is never picked', () => {
  const targets = makeTargets([1, 1, 1, 1])
  targets.forEach((t, i) => { t.inflight = [0, 1, 2, 3][i]! })
  const counts = countPicks(createP2C(targets, mulberry32(42)), 6000)
  // Two of four sampled: the idle one wins whenever sampled (1/2), the busiest never wins.
  assert.equal(counts.get(3), undefined)
  const c0 = counts.get(0) ?? 0
  const c1 = counts.get(1) ?? 0
  const c2 = counts.get(2) ?? 0
  assert.ok(c0 > 2700 && c0 < 3300, `idle server got ${c0}`)
  assert.ok(c0 > c1 && c1 > c2 && c2 > 0, `${c0} > ${c1} > ${c2}`)
})

test('with two servers it always takes the lighter one', () => {
  const targets = makeTargets([1, 1])
  targets[0]!.inflight = 3
  targets[1]!.inflight = 2
  assert.deepEqual([...countPicks(createP2C(targets, mulberry32(5)), 100).entries()], [[1, 100]])
})

test('load is measured per unit of weight', () => {
  const targets = makeTargets([1, 3])
  targets[0]!.inflight = 3 // (3+1)/1 = 4
  targets[1]!.inflight = 6 // (6+1)/3 ≈ 2.3
  assert.deepEqual([...countPicks(createP2C(targets, mulberry32(5)), 100).entries()], [[1, 100]])
  const idle = makeTargets([1, 2])
  assert.deepEqual([...countPicks(createP2C(idle, mulberry32(5)), 100).entries()], [[1, 100]])
})

test('the same seed gives the same sequence; another seed another one', () => {
  const a = sequence(createP2C(makeTargets([1, 1, 1, 1, 1]), mulberry32(9)), 200)
  const b = sequence(createP2C(makeTargets([1, 1, 1, 1, 1]), mulberry32(9)), 200)
  const c = sequence(createP2C(makeTargets([1, 1, 1, 1, 1]), mulberry32(10)), 200)
  assert.deepEqual(a, b)
  assert.notDeepEqual(a, c)
})

test('idle equal servers share picks evenly', () => {
  const counts = countPicks(createP2C(makeTargets([1, 1, 1, 1]), mulberry32(77)), 8000)
  for (let i = 0; i < 4; i++) {
    const c = counts.get(i) ?? 0
    assert.ok(c > 1800 && c < 2200, `server ${i} got ${c}`)
  }
})

test('with ineligible servers it still compares two eligible ones', () => {
  const targets = makeTargets([1, 1, 1, 1, 1])
  targets.forEach((t, i) => { t.inflight = [0, 9, 1, 2, 9][i]! })
  targets[0]!.healthy = false
  const s = createP2C(targets, mulberry32(21))
  const counts = countPicks(s, 3000, ipCtx, new Set([targets[1]!]))
  // Eligible: 2 (load 1), 3 (load 2), 4 (load 9). Server 4 loses every pair it is in.
  assert.equal(counts.get(4), undefined)
  assert.ok((counts.get(2) ?? 0) > (counts.get(3) ?? 0))
})

/**
 * Steady-state simulation: each step starts one request on the picked server and, once 60 are
 * in flight, finishes one random in-flight request. Returns the mean spread (max - min inflight).
 */
function meanSpread (targets: Target[], pick: () => Target): number {
  const random = mulberry32(32)
  let total = 0
  let spreadSum = 0
  const steps = 5000
  for (let i = 0; i < steps; i++) {
    pick().inflight++
    total++
    if (total > 60) {
      let r = Math.floor(random() * total)
      const t = targets.find((x) => (r -= x.inflight) < 0)!
      t.inflight--
      total--
    }
    let max = 0
    let min = Infinity
    for (const t of targets) { max = Math.max(max, t.inflight); min = Math.min(min, t.inflight) }
    spreadSum += max - min
  }
  return spreadSum / steps
}

test('keeps load far more level than a random pick', () => {
  const p2cTargets = makeTargets([1, 1, 1, 1, 1, 1])
  const s = createP2C(p2cTargets, mulberry32(31))
  const p2c = meanSpread(p2cTargets, () => s.pick(ipCtx(0))!)
  const randTargets = makeTargets([1, 1, 1, 1, 1, 1])
  const random = mulberry32(31)
  const rand = meanSpread(randTargets, () => randTargets[Math.floor(random() * randTargets.length)]!)
  assert.ok(p2c < rand / 2, `p2c mean spread ${p2c.toFixed(2)} vs random ${rand.toFixed(2)}`)
})
