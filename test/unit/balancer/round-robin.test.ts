// Round robin: list order, exactly even, skipping ineligible servers without skewing the rest.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRoundRobin } from '../../../src/balancer/round-robin.ts'
import { balancerContract } from './contract.ts'
import { countPicks, makeCtx, makeTargets, sequence } from './helpers.ts'

balancerContract('round-robin', (targets) => createRoundRobin(targets))

test('goes through the list in order and wraps', () => {
  assert.deepEqual(sequence(createRoundRobin(makeTargets([1, 1, 1])), 7), [0, 1, 2, 0, 1, 2, 0])
})

test('distribution is exactly even over N*k picks, whatever the weights', () => {
  for (const n of [1, 2, 3, 7]) {
    const k = 113
    const counts = countPicks(createRoundRobin(makeTargets(Array.from({ length: n }, (_, i) => i + 1))), n * k)
    assert.equal(counts.size, n)
    for (const [index, c] of counts) assert.equal(c, k, `n=${n} target ${index}`)
  }
})

test('an unhealthy server\'s turn passes on and the others stay even', () => {
  const targets = makeTargets([1, 1, 1, 1])
  targets[1]!.healthy = false
  const s = createRoundRobin(targets)
  assert.deepEqual(sequence(s, 6), [0, 2, 3, 0, 2, 3])
})

test('a retry excluding the server just tried gets the next one', () => {
  const targets = makeTargets([1, 1, 1])
  const s = createRoundRobin(targets)
  const first = s.pick(makeCtx())
  assert.equal(first, targets[0])
  assert.equal(s.pick(makeCtx(), new Set([first!])), targets[1])
  assert.equal(s.pick(makeCtx()), targets[2])
})
