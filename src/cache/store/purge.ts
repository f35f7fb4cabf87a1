// Purge by url, prefix or tag in the shared level: which index keys name a selector's entries, and deleting them.
// The store applies the same purge to its memory level and announces it to every other worker (store.ts).
import type { KeySpace, SharedState } from '../../state/index.ts'
import type { PurgeSelector } from './types.ts'

export const PURGE_URL = 0
export const PURGE_PREFIX = 1
export const PURGE_TAG = 2

/** A selector as `[kind, value]`: what purge announcements carry. */
export function purgeOf (selector: PurgeSelector): [number, string] {
  return 'url' in selector ? [PURGE_URL, selector.url] : 'prefix' in selector ? [PURGE_PREFIX, selector.prefix] : [PURGE_TAG, selector.tag]
}

/** Where the entries live: `entryKey(k)` the envelope of cache key `k`; the url and tag indexes come from `keys`. */
export interface PurgeKeys {
  readonly keys: KeySpace
  readonly entryKey: (key: string) => string
  /** The expiring set of every url (prefix purge). */
  readonly urlsKey: string
}

/** Deletes the entries `kind`/`value` names from the shared level; resolves how many entry keys were removed. Throws on a state fault. */
export async function purgeShared (s: SharedState, k: PurgeKeys, kind: number, value: string, now: number): Promise<number> {
  if (kind === PURGE_URL) return await purgeUrls(s, k, [value])
  if (kind === PURGE_PREFIX) {
    // The whole url index: O(distinct live urls) transferred and scanned.
    const urls = (await s.listExpiring(k.urlsKey, now)).map((m) => m.member).filter((u) => u.startsWith(value))
    return await purgeUrls(s, k, urls)
  }
  const tagKey = k.keys.key('cache-tag', value)
  const members = await s.listExpiring(tagKey, 0)
  const removed = await s.del(...members.map((m) => k.entryKey(m.member)))
  await s.del(tagKey)
  return removed
}

/** Deletes every entry of `urls` (listing each url's keys, all of them, expired or not) and their index keys. */
async function purgeUrls (s: SharedState, k: PurgeKeys, urls: readonly string[]): Promise<number> {
  if (urls.length === 0) return 0
  const urlKeys = urls.map((u) => k.keys.key('cache-url', u))
  const lists = await Promise.all(urlKeys.map(async (key) => await s.listExpiring(key, 0)))
  const keys = lists.flatMap((l) => l.map((m) => k.entryKey(m.member)))
  const removed = keys.length === 0 ? 0 : await s.del(...keys)
  await Promise.all([s.del(...urlKeys), s.removeExpiring(k.urlsKey, ...urls)])
  return removed
}
