// What a cached entry is and what the store does with it: the store side's vocabulary, which the stage side (policy,
// stage, tee) codes against as well. Change it only together with both sides.

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
