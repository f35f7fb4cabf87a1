// The balancer's contract: pick one server of an upstream for one request.
// Strategies are built once per config and hold only cross-request state (counters, rings).

/** One backend server as the balancer sees it. `inflight` and `healthy` are kept up to date by the upstream stage and health checks. */
export interface Target {
  /** Position in the upstream's `servers` list. */
  readonly index: number
  /** Base URL, e.g. `http://127.0.0.1:9001`. */
  readonly url: string
  /** Relative weight, ≥ 1. */
  readonly weight: number
  /** Requests currently in flight to this server from this worker. */
  inflight: number
  /** False while health checks or passive ejection take the server out. */
  healthy: boolean
}

/** What a strategy may read of the request. No uWS types: the listener copied these. */
export interface PickContext {
  readonly clientIp: string
  /** First value of a request header (name lower-case), or undefined. */
  header (name: string): string | undefined
  /** Value of a request cookie, or undefined. */
  cookie (name: string): string | undefined
  /** The sticky session id in play (sticky upstreams only); a retry then moves the session deterministically. */
  readonly session?: string | null
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
