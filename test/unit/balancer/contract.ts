// The contract every balancing strategy passes: only eligible targets from its own list,
// undefined when none is left. Each strategy's test file calls balancerContract once.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Strategy, Target } from '../../../src/balancer/index.ts'
import { countPicks, ipCtx, makeTargets } from './helpers.ts'

/** Builds a fresh strategy over `targets` (the test may mutate their `healthy`/`inflight` afterwards). */
export type CreateStrategy = (targets: readonly Target[]) => Strategy

const PICKS = 600

export function balancerContract (name: string, create: CreateStrategy): void {
  describe(`${name}: balancer contract`, () => {
    test('has a name', () => {
      assert.equal(create(makeTargets([1])).name, name)
    })

    test('returns only targets from its list, and reaches every one', () => {
      const targets = makeTargets([1, 1, 1, 1])
      const own = new Set(targets)
      const s = create(targets)
      const seen = new Set<Target>()
      for (let i = 0; i < PICKS; i++) {
        const t = s.pick(ipCtx(i))
        assert.ok(t !== undefined && own.has(t), `pick ${i} returned ${String(t?.url)}, not one of the list's objects`)
        seen.add(t)
      }
      assert.equal(seen.size, targets.length)
    })

    test('an empty list (a discovered service with no live member) picks nothing', () => {
      const s = create([])
      for (let i = 0; i < 5; i++) assert.equal(s.pick(ipCtx(i)), undefined)
      assert.equal(s.pick(ipCtx(0), new Set()), undefined)
    })

    test('does not touch inflight or healthy', () => {
      const targets = makeTargets([1, 2, 3])
      const s = create(targets)
      countPicks(s, 50)
      assert.deepEqual(targets.map((t) => [t.inflight, t.healthy]), [[0, true], [0, true], [0, true]])
    })

    test('never picks an unhealthy target, and still reaches the healthy ones', () => {
      const targets = makeTargets([1, 1, 1, 1, 1])
      const s = create(targets)
      targets[0]!.healthy = false
      targets[3]!.healthy = false
      const counts = countPicks(s, PICKS)
      assert.deepEqual([...counts.keys()].sort(), [1, 2, 4])
    })

    test('follows health changes made after it was built', () => {
      const targets = makeTargets([1, 1, 1])
      const s = create(targets)
      targets[1]!.healthy = false
      assert.equal(countPicks(s, PICKS).get(1), undefined)
      targets[1]!.healthy = true
      assert.ok((countPicks(s, PICKS).get(1) ?? 0) > 0)
    })

    test('never picks an excluded target', () => {
      const targets = makeTargets([1, 1, 1, 1])
      const s = create(targets)
      const exclude = new Set([targets[1]!, targets[2]!])
      const counts = countPicks(s, PICKS, ipCtx, exclude)
      assert.deepEqual([...counts.keys()].sort(), [0, 3])
    })

    test('combines exclude and health', () => {
      const targets = makeTargets([1, 1, 1])
      const s = create(targets)
      targets[0]!.healthy = false
      const counts = countPicks(s, PICKS, ipCtx, new Set([targets[2]!]))
      assert.deepEqual([...counts.entries()], [[1, PICKS]])
    })

    test('returns undefined when none is eligible', () => {
      const cases: Array<{ name: string, weights: number[], unhealthy: number[], excluded: number[] }> = [
        { name: 'empty list', weights: [], unhealthy: [], excluded: [] },
        { name: 'all unhealthy', weights: [1, 2, 3], unhealthy: [0, 1, 2], excluded: [] },
        { name: 'all excluded', weights: [1, 2, 3], unhealthy: [], excluded: [0, 1, 2] },
        { name: 'unhealthy or excluded', weights: [1, 2, 3], unhealthy: [0, 2], excluded: [1] },
        { name: 'single target, unhealthy', weights: [1], unhealthy: [0], excluded: [] }
      ]
      for (const c of cases) {
        const targets = makeTargets(c.weights)
        const s = create(targets)
        for (const i of c.unhealthy) targets[i]!.healthy = false
        const exclude = new Set(c.excluded.map((i) => targets[i]!))
        for (let i = 0; i < 20; i++) assert.equal(s.pick(ipCtx(i), exclude), undefined, c.name)
      }
    })

    test('a single eligible target gets every pick', () => {
      const targets = makeTargets([1])
      const s = create(targets)
      assert.deepEqual([...countPicks(s, 50).entries()], [[0, 50]])
    })
  })
}
