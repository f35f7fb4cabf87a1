// Least connections: the server with the fewest requests in flight from this worker.
// Ties go to the higher weight, then rotate, so idle equal servers alternate instead of piling on the first.
import { isEligible, type PickContext, type Random, type Strategy, type Target } from './strategy.ts'

class LeastConn implements Strategy {
  readonly name = 'least-conn'
  readonly #targets: readonly Target[]
  /** Where the next scan starts; the first best target found from here wins ties. */
  #next: number

  constructor (targets: readonly Target[], random: Random) {
    this.#targets = Array.from(targets)
    // A random start keeps every worker from sending its first requests to server 0.
    this.#next = Math.min(Math.floor(random() * this.#targets.length), Math.max(0, this.#targets.length - 1))
  }

  pick (_ctx: PickContext, exclude?: ReadonlySet<Target>): Target | undefined {
    const targets = this.#targets
    const n = targets.length
    let best: Target | undefined
    let bestAt = 0
    let i = this.#next
    for (let k = 0; k < n; k++) {
      const t = targets[i]!
      if (isEligible(t, exclude) &&
        (best === undefined || t.inflight < best.inflight ||
          (t.inflight === best.inflight && t.weight > best.weight))) {
        best = t
        bestAt = i
      }
      i = i + 1 === n ? 0 : i + 1
    }
    if (best !== undefined) this.#next = bestAt + 1 === n ? 0 : bestAt + 1
    return best
  }
}

/** Fewest `inflight` wins; `random` only picks where the tie-breaking rotation starts. */
export function createLeastConn (targets: readonly Target[], random: Random): Strategy {
  return new LeastConn(targets, random)
}
