// Smooth weighted round robin, as nginx's ngx_http_upstream_get_peer does it: weights 5,1,1
// give a a b a c a a rather than a a a a a b c, so a heavy server never gets a long burst.
import { isEligible, type PickContext, type Strategy, type Target } from './strategy.ts'

class Weighted implements Strategy {
  readonly name = 'weighted'
  readonly #targets: readonly Target[]
  /** nginx's `current_weight` per target, by position in `#targets`. */
  readonly #current: Float64Array

  constructor (targets: readonly Target[]) {
    this.#targets = Array.from(targets)
    this.#current = new Float64Array(this.#targets.length)
  }

  pick (_ctx: PickContext, exclude?: ReadonlySet<Target>): Target | undefined {
    const targets = this.#targets
    const current = this.#current
    let total = 0
    let best = -1
    // Each eligible server gains its weight; the one with the highest running total wins and
    // pays back the sum. Over one cycle of sum(weights) picks each server gets exactly its weight.
    // Ineligible servers neither gain nor pay, as in nginx, so they resume where they left off.
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]!
      if (!isEligible(t, exclude)) continue
      const c = current[i]! + t.weight
      current[i] = c
      total += t.weight
      if (best === -1 || c > current[best]!) best = i
    }
    if (best === -1) return undefined
    current[best] = current[best]! - total
    return targets[best]
  }
}

/** Smooth weighted round robin over `targets` by `weight`. */
export function createWeighted (targets: readonly Target[]): Strategy {
  return new Weighted(targets)
}
