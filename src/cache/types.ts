// The cache stage side's vocabulary: what the RFC 9111 policy decides about requests, entries and ranges. What an entry
// is and what the store does live with the store (store/types.ts); policy.ts, serve.ts, tee.ts and stage.ts code
// against both.

export type { CacheEntry, CacheStore, PurgeSelector } from './store/index.ts'

/** Looks up a request header by lower-case name; several lines of one field come back joined with ", ". */
export type HeaderLookup = (name: string) => string | undefined

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
