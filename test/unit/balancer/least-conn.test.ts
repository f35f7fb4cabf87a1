// Least connections: fewest in flight wins; ties go to weight, then rotate.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createLeastConn } from '../../../src/balancer/least-conn.ts'
import { balancerContract } from './contract.ts'
import { countPicks, ipCtx, makeTargets, mulberry32, sequence } from './helpers.ts'

balancerContract('least-conn', (targets) => createLeastConn(targets, mulberry32(7)))

const first = () => 0

test('prefers the lowest inflight', () => {
  const targets = makeTargets([1, 1, 1, 1])
  targets.forEach((t, i) => { t.inflight = [4, 2, 1, 3][i]! })
  const s = createLeastConn(targets, first)
  assert.deepEqual([...countPicks(s, 20).entries()], [[2, 20]])
  targets[2]!.inflight = 5
  assert.deepEqual([...countPicks(s, 20).entries()], [[1, 20]])
})

test('compares raw inflight before weight', () => {
  const targets = makeTargets([1, 10])
  targets[0]!.inflight = 1
  targets[1]!.inflight = 2
  assert.equal(createLeastConn(targets, first).pick(ipCtx(0)), targets[0])
})

test('an equal inflight goes to the higher weight', () => {
  const targets = makeTargets([1, 3, 2])
  for (const t of targets) t.inflight = 2
  assert.deepEqual([...countPicks(createLeastConn(targets, first), 10).entries()], [[1, 10]])
})

test('equal servers alternate', () => {
  const s = createLeastConn(makeTargets([1, 1, 1]), first)
  assert.deepEqual(sequence(s, 9), [0, 1, 2, 0, 1, 2, 0, 1, 2])
})

test('the random source only sets where the rotation starts', () => {
  assert.deepEqual(sequence(createLeastConn(makeTargets([1, 1, 1]), () => 0.5), 4), [1, 2, 0, 1])
  assert.deepEqual(sequence(createLeastConn(makeTargets([1, 1, 1]), () => 0.99), 4), [2, 0, 1, 2])
})

test('skips an unhealthy least-loaded server for the next least loaded', () => {
  const targets = makeTargets([1, 1, 1])
  targets.forEach((t, i) => { t.inflight = [5, 0, 1][i]! })
  targets[1]!.healthy = false
  assert.equal(createLeastConn(targets, first).pick(ipCtx(0)), targets[2])
})

test('keeps load level while requests start and finish', () => {
  const targets = makeTargets([1, 1, 1, 1, 1])
  const s = createLeastConn(targets, mulberry32(3))
  const random = mulberry32(4)
  for (let i = 0; i < 2000; i++) {
    s.pick(ipCtx(i))!.inflight++
    // Finish one request on a random busy server now and then.
    if (random() < 0.45) {
      const busy = targets.filter((t) => t.inflight > 0)
      busy[Math.floor(random() * busy.length)]!.inflight--
    }
    const loads = targets.map((t) => t.inflight)
    assert.ok(Math.max(...loads) - Math.min(...loads) <= 2, `step ${i}: ${loads.join(',')}`)
  }
})
