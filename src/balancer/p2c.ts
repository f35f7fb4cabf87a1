// Power of two random choices: sample two distinct eligible servers, send to the less loaded.
// Load is (inflight + 1) / weight, so among idle servers the heavier one still wins.
import { isEligible, type PickContext, type Random, type Strategy, type Target } from './strategy.ts'

/** True when `a` is strictly less loaded than `b`; cross-multiplied to avoid division. */
function lighter (a: Target, b: Target): boolean {
  return (a.inflight + 1) * b.weight < (b.inflight + 1) * a.weight
}

/** floor(random() * n), clamped in case a custom source ever returns 1. */
function draw (random: Random, n: number): number {
  const i = Math.floor(random() * n)
  return i < n ? i : n - 1
}

class P2C implements Strategy {
  readonly name = 'p2c'
  readonly #targets: readonly Target[]
  readonly #random: Random

  constructor (targets: readonly Target[], random: Random) {
    this.#targets = Array.from(targets)
    this.#random = random
  }

  pick (_ctx: PickContext, exclude?: ReadonlySet<Target>): Target | undefined {
    const targets = this.#targets
    const n = targets.length
    if (n < 2) {
      const only = targets[0]
      return only !== undefined && isEligible(only, exclude) ? only : undefined
    }
    // Fast path: two distinct positions over the whole list; taken whenever both are eligible.
    const i = draw(this.#random, n)
    let j = draw(this.#random, n - 1)
    if (j >= i) j++
    const a = targets[i]!
    const b = targets[j]!
    if (isEligible(a, exclude) && isEligible(b, exclude)) return lighter(b, a) ? b : a
    return this.#pickAmongEligible(exclude)
  }

  /** Slow path: draw two distinct ranks among the eligible servers, found by counting, without allocating. */
  #pickAmongEligible (exclude: ReadonlySet<Target> | undefined): Target | undefined {
    const targets = this.#targets
    let m = 0
    for (let k = 0; k < targets.length; k++) if (isEligible(targets[k]!, exclude)) m++
    if (m === 0) return undefined
    const ra = draw(this.#random, m)
    let rb = -1
    if (m > 1) {
      rb = draw(this.#random, m - 1)
      if (rb >= ra) rb++
    }
    let a: Target | undefined
    let b: Target | undefined
    let rank = 0
    for (let k = 0; k < targets.length; k++) {
      const t = targets[k]!
      if (!isEligible(t, exclude)) continue
      if (rank === ra) a = t
      else if (rank === rb) b = t
      rank++
    }
    if (b === undefined) return a
    return a !== undefined && lighter(b, a) ? b : a
  }
}

/** Power of two choices on `inflight` per unit of `weight`, sampling with `random`. */
export function createP2C (targets: readonly Target[], random: Random): Strategy {
  return new P2C(targets, random)
}
