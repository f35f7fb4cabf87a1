// What the cache stage asks of the RFC 9111 rules. index.ts adapts policy.ts and range.ts to this shape, so the
// stage (and its unit tests, with a fake) depend on one small interface rather than on those files' details.
import type { CacheEntry, HeaderLookup, RangeDecision, RequestPolicy, Storability, Usability } from './types.ts'

/**
 * A backend response as the stage saw it: flat `[name, value, …]`, names lower-case, values latin1 strings, with the
 * backend's Date (which the proxy drops from what the client gets) put back.
 */
export interface ResponseInput {
  readonly status: number
  readonly headers: readonly string[]
  readonly body: Uint8Array
  readonly requestTime: number
  readonly responseTime: number
  /** `host/path?query`, host lower-case. */
  readonly url: string
  readonly req: RequestPolicy
  /** The Vary header names of the request's variant, and that request's header lookup. */
  readonly requestHeader: HeaderLookup
}

export interface StorabilityOptions {
  readonly storeSetCookie: boolean
  readonly heuristic: boolean
}

export interface StagePolicy {
  /** The request's directives (method, Cache-Control, Pragma, Authorization). */
  request (method: string, header: HeaderLookup): RequestPolicy
  /** How `entry` may serve a request with `req` at `nowMs`. */
  usability (entry: CacheEntry, req: RequestPolicy, nowMs: number): Usability
  /** Inside stale-if-error and not must-revalidate: may stand in for a failed (5xx, unreachable) backend. */
  servableOnError (entry: CacheEntry, nowMs: number): boolean
  /** Whether a response may be stored and for how long (freshness plus stale windows). */
  storability (method: string, status: number, headers: readonly string[], req: RequestPolicy, nowMs: number, o: StorabilityOptions): Storability
  /** The entry for a response judged storable (headers filtered to what may be stored). */
  buildEntry (r: ResponseInput, o: StorabilityOptions): CacheEntry
  /** The entry after a 304 to our revalidation (RFC 9111 §4.3.4): its headers updated, its clock restarted. */
  refresh304 (entry: CacheEntry, headers: readonly string[], requestTime: number, responseTime: number): CacheEntry
  /** How long a refreshed entry may be kept, ms. */
  ttlOf (entry: CacheEntry, nowMs: number): number
  /** If-None-Match / If-Modified-Since for a revalidation of `entry`, flat. */
  revalidationHeaders (entry: CacheEntry): readonly string[]
  /** The client's own conditionals match `entry` (RFC 9110 §13.2.2): answer 304. */
  notModified (entry: CacheEntry, header: HeaderLookup): boolean
  /** The Age header value, whole seconds. */
  ageSeconds (entry: CacheEntry, nowMs: number): number
  /** A Range header against a body of `size` bytes. */
  parseRange (range: string, size: number): RangeDecision
  /** The part of a variant's key that comes from the request headers its Vary names (RFC 9111 §4.1). */
  secondaryKey (vary: readonly string[], header: HeaderLookup): string
  /** If-Range matches `entry` (strong ETag or Last-Modified date): the Range applies. */
  ifRangeMatches (entry: CacheEntry, ifRange: string): boolean
}
