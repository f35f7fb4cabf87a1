// The Limiter interface the rate-limit stage calls, and the rule it enforces. Implementations: local.ts (one
// process, and the fallback share while shared state is down) and shared.ts (leases from SharedState).

/** A limit as configured: `count` per `windowSec` seconds, with a bucket of `burst` tokens. */
export interface RateRule {
  /** Tokens added per second (count / windowSec). */
  readonly ratePerSec: number
  /** The quota as written, for RateLimit-Policy (`100/m` → 100). */
  readonly count: number
  /** The window as written, in seconds (`/s` 1, `/m` 60, `/h` 3600). */
  readonly windowSec: number
  /** Bucket size: the most requests admitted at once after a quiet period. */
  readonly burst: number
}

/** 0: admitted. A positive number: refused, and the ms until a token is expected. */
export type Decision = number

export const ADMIT = 0

export interface Limiter {
  /**
   * Takes one token for `key`. Synchronous whenever the answer is known locally (the common case); a promise only
   * while a refill from shared state is awaited. Never rejects: state faults degrade to a local decision.
   */
  take (key: string): Decision | Promise<Decision>
  /** Keys currently held in memory (bounded by maxKeys). */
  readonly size: number
}
