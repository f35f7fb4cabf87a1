// Public surface of cache/store/: the store side of the HTTP cache (worker memory in front of the shared level,
// fill locks, purge). It needs only state/, so the primary purges through it without loading any stage.
export type { CacheEntry, CacheStore, PurgeSelector } from './types.ts'
export { createCacheStore, type CacheStoreOptions, type CacheStoreHandle, type CacheStoreStats, type CacheStoreLog } from './store.ts'
