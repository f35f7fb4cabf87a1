// Round robin: each pick takes the next server in list order, skipping unhealthy or excluded ones.
// A skipped server's turn passes to the next eligible one, so the survivors stay evenly loaded.
import { isEligible, type PickContext, type Strategy, type Target } from './strategy.ts'

class RoundRobin implements Strategy {
  readonly name = 'round-robin'
  readonly #targets: readonly Target[]
  #next = 0

  constructor (targets: readonly Target[]) {
    this.#targets = Array.from(targets)
  }

  pick (_ctx: PickContext, exclude?: ReadonlySet<Target>): Target | undefined {
    const targets = this.#targets
    const n = targets.length
    // With every server eligible the first iteration returns: a counter modulo length.
    for (let k = 0; k < n; k++) {
      const t = targets[this.#next]!
      this.#next = this.#next + 1 === n ? 0 : this.#next + 1
      if (isEligible(t, exclude)) return t
    }
    return undefined
  }
}

/** Plain round robin over `targets`, ignoring weights. */
export function createRoundRobin (targets: readonly Target[]): Strategy {
  return new RoundRobin(targets)
}
