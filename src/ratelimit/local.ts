// A token bucket per key in this process's memory, bounded in keys. Used alone (tests, single worker) and as the
// fallback share of a shared limiter while shared state is unavailable.
import { ADMIT, type Decision, type Limiter } from './limiter.ts'

export interface LocalLimiterOptions {
  /** Tokens per second for each key. */
  readonly ratePerSec: number
  readonly burst: number
  /** Clock in ms (monotonic or wall; only differences are used). */
  readonly now: () => number
  /** Most keys kept; beyond it the least recently refilled are forgotten (they start full again). Default 10 000. */
  readonly maxKeys?: number
}

/** One key's bucket; `ts` is when `tokens` was last brought up to date. */
export class LocalBucket {
  tokens: number
  ts: number
  constructor (tokens: number, ts: number) {
    this.tokens = tokens
    this.ts = ts
  }

  /** Refills to `now` and takes one token: ADMIT, or the ms until the next whole token. */
  take (now: number, ratePerSec: number, burst: number): Decision {
    if (now > this.ts) {
      this.tokens = Math.min(burst, this.tokens + (now - this.ts) * ratePerSec / 1000)
      this.ts = now
    }
    // The same float slack as the shared bucket (state/token-bucket.ts).
    if (this.tokens + 1e-9 >= 1) {
      this.tokens = Math.max(0, this.tokens - 1)
      return ADMIT
    }
    return Math.max(1, Math.ceil((1 - this.tokens) * 1000 / ratePerSec))
  }
}

export function createLocalLimiter (o: LocalLimiterOptions): Limiter {
  const { ratePerSec, burst, now } = o
  const maxKeys = o.maxKeys ?? 10_000
  const buckets = new Map<string, LocalBucket>()
  return {
    take (key) {
      const t = now()
      let b = buckets.get(key)
      if (b === undefined) {
        // Insertion order is age: the oldest key goes first once the map is full.
        if (buckets.size >= maxKeys) evictOldest(buckets)
        b = new LocalBucket(burst, t)
        buckets.set(key, b)
      }
      return b.take(t, ratePerSec, burst)
    },
    get size () { return buckets.size }
  }
}

/** Drops the first-inserted key of `m`. */
export function evictOldest (m: Map<string, unknown>): void {
  for (const k of m.keys()) {
    m.delete(k)
    return
  }
}
