// Cache entries for the store and memory tests.
import type { CacheEntry } from '../../../src/cache/store/index.ts'

/** A complete entry for `url`; `over` replaces fields. */
export function entry (url: string, over: Partial<CacheEntry> = {}): CacheEntry {
  return {
    status: 200,
    headers: ['content-type', 'text/plain', 'etag', '"v1"', 'x-multi', 'a', 'x-multi', 'b'],
    body: Uint8Array.from({ length: 100 }, (_, i) => i),
    requestTime: 1_700_000_000_000,
    responseTime: 1_700_000_000_050,
    initialAgeMs: 50,
    lifetimeMs: 60_000,
    swrMs: 0,
    sieMs: 5000,
    mustRevalidate: false,
    noCache: false,
    etag: '"v1"',
    lastModified: undefined,
    tags: [],
    vary: [],
    url,
    ...over
  }
}

/** The entry with its body as a plain array, so deepEqual compares Buffer and Uint8Array bodies by content. */
export function plain (e: CacheEntry | undefined): unknown {
  return e === undefined ? undefined : { ...e, body: [...e.body] }
}
