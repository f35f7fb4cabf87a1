// The balancer's contract: pick one server of an upstream for one request.
// Strategies are built once per config and hold only cross-request state (counters, rings).
import type { Target } from '../pipeline/index.ts'

export type { Target }

/** What a strategy may read of the request. No uWS types: the listener copied these. */
export interface PickContext {
  readonly clientIp: string
  /** First value of a request header (name lower-case), or undefined. */
  header (name: string): string | undefined
  /** Value of a request cookie, or undefined. */
  cookie (name: string): string | undefined
  /** The sticky session in play (sticky upstreams only); a retry then moves the session deterministically. */
  readonly sticky?: { readonly id: string } | null
}

export interface Strategy {
  readonly name: string
  /**
   * Pick a healthy target, never one in `exclude` (targets already tried by this request).
   * Returns undefined when no healthy, non-excluded target is left.
   */
  pick (ctx: PickContext, exclude?: ReadonlySet<Target>): Target | undefined
}

/** Random source in [0, 1), injected so tests are deterministic. */
export type Random = () => number

/** True when `t` may serve this request: healthy and not already tried. Allocation-free; the hot-path check of every strategy. */
export function isEligible (t: Target, exclude: ReadonlySet<Target> | undefined): boolean {
  return t.healthy && (exclude === undefined || !exclude.has(t))
}
