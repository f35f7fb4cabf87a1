// The HTTP cache's shared vocabulary (issue 5): what an entry is, what the policy decides, and what the store does.
// policy.ts (RFC 9111 rules, pure), store.ts (two levels, coalescing locks, purge) and stage.ts (the pipeline stage)
// all code against these types; change them only together.

/** Looks up a request header by lower-case name; several lines of one field come back joined with ", ". */
export type HeaderLookup = (name: string) => string | undefined

/** One stored response (RFC 9111 §3). Times are wall-clock ms since the epoch, so every host reads them alike. */
export interface CacheEntry {
  readonly status: number
  /**
   * Response headers as stored, flat `[name, value, …]`, names lower-case: end-to-end fields only (hop-by-hop,
   * Connection-named, Content-Length, Transfer-Encoding, Date, Age and Set-Cookie unless allowed are not stored).
   */
  readonly headers: readonly string[]
  readonly body: Uint8Array
  /** When the request that produced it was sent, and when the response head arrived (§4.2.3). */
  readonly requestTime: number
  readonly responseTime: number
  /** The response's age when received: max(apparent age from Date, Age header) + response delay (§4.2.3), ms. */
  readonly initialAgeMs: number
  /** Freshness lifetime, ms: s-maxage, else max-age, else Expires − Date, else a heuristic (§4.2.1, §4.2.2). */
  readonly lifetimeMs: number
  /** stale-while-revalidate and stale-if-error windows (RFC 5861), ms; 0 when absent. */
  readonly swrMs: number
  readonly sieMs: number
  /** must-revalidate or proxy-revalidate (or s-maxage, §5.2.2.10): never served stale, not even on error. */
  readonly mustRevalidate: boolean
  /** no-cache in the response: stored, but revalidated before every use. */
  readonly noCache: boolean
  readonly etag: string | undefined
  readonly lastModified: string | undefined
  /** Purge tags from Surrogate-Key (space-separated) and Cache-Tag (comma-separated) response headers. */
  readonly tags: readonly string[]
  /** Request header names (lower-case) the response varies on; [] when it has no Vary. */
  readonly vary: readonly string[]
  /** `host/path?query` as requested (host lower-case, no port normalisation beyond the Host header): purge by URL/prefix. */
  readonly url: string
}

/** What a request allows (RFC 9111 §5.2.1), from its method and Cache-Control / Pragma. */
export interface RequestPolicy {
  /** GET or HEAD: the cache may answer it at all. */
  readonly cacheable: boolean
  /** no-store: neither use nor store (answered by the backend, X-Cache: BYPASS). */
  readonly noStore: boolean
  /** no-cache, Pragma: no-cache or max-age=0: a stored entry must be revalidated before use. */
  readonly noCache: boolean
  /** max-age, max-stale, min-fresh in ms, when given. max-stale with no value: any staleness (Infinity). */
  readonly maxAgeMs: number | undefined
  readonly maxStaleMs: number | undefined
  readonly minFreshMs: number | undefined
  /** only-if-cached: a miss answers 504 (§5.2.1.7). */
  readonly onlyIfCached: boolean
  /** Authorization present: a response is stored only if it allows it (public, s-maxage, must-revalidate; §3.5). */
  readonly authorized: boolean
}

/** How a stored entry may be used for a request right now (§4.2, §4.3, RFC 5861). */
export type Usability =
  /** Fresh for this request: serve it. */
  | 'fresh'
  /** Stale but inside stale-while-revalidate: serve it and refresh it once in the background. */
  | 'stale-while-revalidate'
  /** Must be revalidated (stale, no-cache, or the request's limits) before use; serve it if the backend fails and it is inside stale-if-error. */
  | 'revalidate'

/** The decision on a response the backend sent (§3). */
export type Storability =
  | { readonly store: true, readonly ttlMs: number }
  | { readonly store: false, readonly reason: string }

/** A Range request header against a body of known size (RFC 9110 §14). */
export type RangeDecision =
  /** No Range header, or one that must be ignored (not bytes, or malformed): send the whole body, 200. */
  | { readonly kind: 'none' }
  /** Satisfiable ranges, inclusive [start, end] byte offsets, in request order (already coalesced if overlapping). */
  | { readonly kind: 'ranges', readonly ranges: ReadonlyArray<readonly [number, number]> }
  /** 416 with Content-Range: bytes * /size. */
  | { readonly kind: 'unsatisfiable' }

/** Purge selector of POST /api/cache/purge. */
export type PurgeSelector =
  | { readonly url: string }
  | { readonly prefix: string }
  | { readonly tag: string }

/** The two cache levels and cluster-wide coordination. Nothing here ever rejects on a shared-state fault. */
export interface CacheStore {
  /** The worker's memory level only, synchronous: the hit path of a hot object creates no promise. */
  getLocal (key: string): CacheEntry | undefined
  /** Memory, then the shared level (copied into memory on a hit). A shared-state fault reads as a miss. */
  get (key: string): Promise<CacheEntry | undefined>
  /** The shared level only (copied into memory on a hit, replacing what was there); a fault reads as a miss. */
  getShared (key: string): Promise<CacheEntry | undefined>
  /** Stores in both levels for `ttlMs` (how long it may be kept, stale windows included) and indexes url and tags. */
  put (key: string, entry: CacheEntry, ttlMs: number): Promise<void>
  /** The Vary header names recorded for a primary key (the first response's Vary), or undefined. */
  getVary (primaryKey: string): Promise<readonly string[] | undefined>
  getVaryLocal (primaryKey: string): readonly string[] | undefined
  setVary (primaryKey: string, names: readonly string[], ttlMs: number): Promise<void>
  /**
   * Coalescing: tries to become the one fetcher of `key` cluster-wide for `ttlMs`. 'acquired': fetch, then put()
   * and release(). 'held': someone else fetches; wait with waitFill(). 'unavailable': shared state is down; fetch
   * without storing in the shared level (each worker alone).
   */
  lock (key: string, ttlMs: number): Promise<'acquired' | 'held' | 'unavailable'>
  /** Drops the lock and announces the fill (or the failure) to every waiter on every host. */
  release (key: string): Promise<void>
  /**
   * Resolves once the holder of `key`'s lock released it, or the lock expired (its holder died: try lock() again),
   * or `timeoutMs` passed. Resolves 'released' | 'expired' | 'timeout'.
   */
  waitFill (key: string, timeoutMs: number): Promise<'released' | 'expired' | 'timeout'>
  /** Removes matching entries from the shared level and from every worker's memory on every host (pub/sub); resolves how many keys were removed from the shared level. */
  purge (selector: PurgeSelector): Promise<number>
  close (): Promise<void>
}
