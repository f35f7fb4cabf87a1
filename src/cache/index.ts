// Public surface of cache/: the stage side (the stage, its tee, the RFC 9111 policy adapted to what the stage asks),
// and the store side re-exported from store/ for the worker that builds both.
import * as p from './policy.ts'
import { parseRange, ifRangeAllows } from './range.ts'
import type { StagePolicy } from './stage-policy.ts'

export type { CacheEntry, CacheStore, PurgeSelector, RequestPolicy, Usability, Storability, RangeDecision, HeaderLookup } from './types.ts'
export type { StagePolicy, ResponseInput, StorabilityOptions } from './stage-policy.ts'
export { createCacheStage, type CacheStageOptions } from './stage.ts'
export { createCacheStore, type CacheStoreOptions, type CacheStoreHandle, type CacheStoreStats } from './store/index.ts'
export { CacheTee, keepBackendDate } from './tee.ts'

/** policy.ts and range.ts in the stage's shape. */
export const rfc9111: StagePolicy = {
  request: p.requestPolicy,
  usability: p.usability,
  servableOnError: p.servableOnError,
  storability: (method, status, headers, req, now, o) => p.storability({
    method, status, request: req, responseHeaders: headers, storeSetCookie: o.storeSetCookie, heuristic: o.heuristic, now
  }),
  buildEntry: (r, o) => p.buildEntry({
    status: r.status,
    responseHeaders: r.headers,
    body: r.body,
    requestTime: r.requestTime,
    responseTime: r.responseTime,
    url: r.url,
    requestHeader: r.requestHeader,
    keepSetCookie: o.storeSetCookie
  }),
  refresh304: p.refreshFrom304,
  ttlOf: p.entryTtlMs,
  revalidationHeaders: p.revalidationHeaders,
  notModified: (entry, header) => p.notModified(header, entry),
  ageSeconds: p.ageSeconds,
  parseRange,
  secondaryKey: p.secondaryKey,
  ifRangeMatches: (entry, ifRange) => ifRangeAllows(ifRange, entry)
}
