// Smooth weighted round robin: exact proportions per cycle and nginx's interleaved order.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createWeighted } from '../../../src/balancer/weighted.ts'
import { balancerContract } from './contract.ts'
import { countPicks, makeTargets, sequence } from './helpers.ts'

balancerContract('weighted', (targets) => createWeighted(targets))

function longestRun (seq: ReadonlyArray<number | undefined>, value: number): number {
  let best = 0
  let run = 0
  for (const v of seq) {
    run = v === value ? run + 1 : 0
    if (run > best) best = run
  }
  return best
}

test('weights 5,1,1 give nginx\'s smooth sequence a a b a c a a, cycle after cycle', () => {
  const a = 0
  const b = 1
  const c = 2
  const cycle = [a, a, b, a, c, a, a]
  assert.deepEqual(sequence(createWeighted(makeTargets([5, 1, 1])), 21), [...cycle, ...cycle, ...cycle])
})

test('weights 3:1:1 give exactly 300/100/100 over 500 picks, never 3 heavy in a row', () => {
  const s = createWeighted(makeTargets([3, 1, 1]))
  const seq = sequence(s, 500)
  const counts = new Map<number, number>()
  for (const i of seq) counts.set(i!, (counts.get(i!) ?? 0) + 1)
  assert.deepEqual([...counts.entries()].sort(), [[0, 300], [1, 100], [2, 100]])
  assert.deepEqual(seq.slice(0, 5), [0, 1, 0, 2, 0])
  assert.equal(longestRun(seq, 0), 2)
})

test('proportions are exact for other weights too', () => {
  const counts = countPicks(createWeighted(makeTargets([2, 3, 5])), 1000)
  assert.deepEqual([...counts.entries()].sort(), [[0, 200], [1, 300], [2, 500]])
})

test('an unhealthy server drops out and the rest keep their ratio', () => {
  const targets = makeTargets([3, 1, 2])
  targets[0]!.healthy = false
  const counts = countPicks(createWeighted(targets), 300)
  assert.deepEqual([...counts.entries()].sort(), [[1, 100], [2, 200]])
})

test('a retry excluding the heavy server goes to a light one', () => {
  const targets = makeTargets([5, 1, 1])
  const counts = countPicks(createWeighted(targets), 60, undefined, new Set([targets[0]!]))
  assert.deepEqual([...counts.entries()].sort(), [[1, 30], [2, 30]])
})
