// Percentiles from bucket counts (not cumulative; the last is +Inf). Histograms with the same bounds add bucket by
// bucket, so a fleet's percentiles come from its hosts' summed buckets, not from averaging their percentiles.
import { BUCKETS } from './families.ts'

/** The q-quantile (0 < q ≤ 1) in seconds, interpolated within its bucket; null without observations. */
export function quantile (counts: readonly number[], q: number): number | null {
  let total = 0
  for (const c of counts) total += c
  if (total === 0) return null
  const rank = q * total
  let acc = 0
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!
    if (acc + c >= rank && c > 0) {
      const lo = i === 0 ? 0 : BUCKETS[i - 1]!
      // Past the last bound nothing is known but the bound itself.
      if (i >= BUCKETS.length) return lo
      return lo + (BUCKETS[i]! - lo) * ((rank - acc) / c)
    }
    acc += c
  }
  return BUCKETS.at(-1)!
}

/** Bucket-wise a + b (arrays of the same length; a missing one counts as zeros). */
export function addCounts (a: readonly number[] | undefined, b: readonly number[]): number[] {
  return b.map((v, i) => v + (a?.[i] ?? 0))
}

/** Bucket-wise a - b, floored at 0 (b: an earlier snapshot of the same series). */
export function subCounts (a: readonly number[], b: readonly number[] | undefined): number[] {
  return a.map((v, i) => Math.max(0, v - (b?.[i] ?? 0)))
}
