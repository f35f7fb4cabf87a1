// The worker's memory level: an LRU over cache entries bounded by total bytes, with per-entry expiry and small
// url and tag indexes so a purge by url or tag touches only its entries (a prefix purge scans the distinct urls).
import type { CacheEntry } from './types.ts'

export interface MemoryCacheOptions {
  /** Upper bound on the estimated bytes held (entries and their keys); an entry larger than this is not kept. */
  readonly maxBytes: number
  /** Wall clock, ms: compared with each entry's `expiresAt`. */
  readonly now: () => number
  /** Most Vary records kept (each is a few header names); the oldest go first. Default 10 000. */
  readonly maxVary?: number
}

/** Fixed cost of one entry beyond its strings and body: the Map slots, the node, the index sets (rough, on purpose). */
const ENTRY_OVERHEAD = 256

// One shape for every node, so the map's values share a hidden class.
class Node {
  readonly key: string
  readonly entry: CacheEntry
  readonly expiresAt: number
  readonly bytes: number
  /** The cache's insert count when this node last moved to the recent end. */
  touched: number
  constructor (key: string, entry: CacheEntry, expiresAt: number, bytes: number, touched: number) {
    this.key = key
    this.entry = entry
    this.expiresAt = expiresAt
    this.bytes = bytes
    this.touched = touched
  }
}

class VaryRecord {
  readonly names: readonly string[]
  readonly expiresAt: number
  constructor (names: readonly string[], expiresAt: number) {
    this.names = names
    this.expiresAt = expiresAt
  }
}

/** Estimated memory of an entry: body plus headers, url, tags and key at 2 bytes a character, plus a fixed overhead. */
export function entryBytes (key: string, e: CacheEntry): number {
  let chars = key.length + e.url.length + (e.etag?.length ?? 0) + (e.lastModified?.length ?? 0)
  for (const h of e.headers) chars += h.length
  for (const t of e.tags) chars += t.length
  for (const v of e.vary) chars += v.length
  return e.body.byteLength + 2 * chars + ENTRY_OVERHEAD
}

/**
 * A Map in insertion order is the LRU list: a hit deletes and re-inserts its key (O(1)), eviction takes the first
 * keys. A hit moves its key only once between two inserts: order matters only to the evictions an insert makes, and
 * the move (a delete and a set, rehashing the key) was a tenth of a hit's JS time in a profile of bench/load/cache.ts. Indexes: url → keys and tag → keys, kept in step on every insert and removal.
 */
export class MemoryCache {
  readonly #maxBytes: number
  readonly #now: () => number
  readonly #maxVary: number
  readonly #map = new Map<string, Node>()
  readonly #byUrl = new Map<string, Set<string>>()
  readonly #byTag = new Map<string, Set<string>>()
  readonly #vary = new Map<string, VaryRecord>()
  #bytes = 0
  /** Inserts so far (see Node.touched). */
  #inserts = 0

  constructor (o: MemoryCacheOptions) {
    this.#maxBytes = o.maxBytes
    this.#now = o.now
    this.#maxVary = o.maxVary ?? 10_000
  }

  /** Estimated bytes held. */
  get bytes (): number { return this.#bytes }
  /** Entries held, expired ones included until read, evicted or purged. */
  get size (): number { return this.#map.size }

  /** The live entry for `key` (marked most recently used), or undefined; an expired one is dropped. */
  get (key: string): CacheEntry | undefined {
    const n = this.#map.get(key)
    if (n === undefined) return undefined
    if (n.expiresAt <= this.#now()) { this.#remove(n); return undefined }
    if (n.touched !== this.#inserts) {
      n.touched = this.#inserts
      this.#map.delete(key)
      this.#map.set(key, n)
    }
    return n.entry
  }

  /** When the entry at `key` expires (ms), or undefined when none is held. */
  expiresAt (key: string): number | undefined {
    return this.#map.get(key)?.expiresAt
  }

  /** Stores `entry` until `expiresAt`, evicting least recently used entries to stay within the byte bound. */
  put (key: string, entry: CacheEntry, expiresAt: number): boolean {
    const old = this.#map.get(key)
    if (old !== undefined) this.#remove(old)
    if (expiresAt <= this.#now()) return false
    const bytes = entryBytes(key, entry)
    if (bytes > this.#maxBytes) return false
    while (this.#bytes + bytes > this.#maxBytes) {
      const first = this.#map.values().next()
      if (first.done === true) break
      this.#remove(first.value)
    }
    const n = new Node(key, entry, expiresAt, bytes, ++this.#inserts)
    this.#map.set(key, n)
    this.#bytes += bytes
    addTo(this.#byUrl, entry.url, key)
    for (const t of entry.tags) addTo(this.#byTag, t, key)
    return true
  }

  delete (key: string): boolean {
    const n = this.#map.get(key)
    if (n === undefined) return false
    this.#remove(n)
    return true
  }

  /** Drops every entry of `url`: O(its entries). Resolves how many. */
  removeUrl (url: string): number {
    return this.#removeAll(this.#byUrl.get(url))
  }

  /** Drops every entry whose url starts with `prefix`: O(distinct urls held) to scan, plus the entries dropped. */
  removePrefix (prefix: string): number {
    let n = 0
    for (const [url, keys] of this.#byUrl) if (url.startsWith(prefix)) n += this.#removeAll(keys)
    return n
  }

  /** Drops every entry tagged `tag`: O(its entries). */
  removeTag (tag: string): number {
    return this.#removeAll(this.#byTag.get(tag))
  }

  getVary (primaryKey: string): readonly string[] | undefined {
    const r = this.#vary.get(primaryKey)
    if (r === undefined) return undefined
    if (r.expiresAt <= this.#now()) { this.#vary.delete(primaryKey); return undefined }
    return r.names
  }

  setVary (primaryKey: string, names: readonly string[], expiresAt: number): void {
    this.#vary.delete(primaryKey)
    if (expiresAt <= this.#now()) return
    if (this.#vary.size >= this.#maxVary) {
      const first = this.#vary.keys().next()
      if (first.done !== true) this.#vary.delete(first.value)
    }
    this.#vary.set(primaryKey, new VaryRecord(names, expiresAt))
  }

  deleteVary (primaryKey: string): void {
    this.#vary.delete(primaryKey)
  }

  clear (): void {
    this.#map.clear()
    this.#byUrl.clear()
    this.#byTag.clear()
    this.#vary.clear()
    this.#bytes = 0
  }

  #removeAll (keys: Set<string> | undefined): number {
    if (keys === undefined) return 0
    let n = 0
    // A copy: #remove edits the set being walked.
    for (const k of [...keys]) if (this.delete(k)) n++
    return n
  }

  #remove (n: Node): void {
    this.#map.delete(n.key)
    this.#bytes -= n.bytes
    removeFrom(this.#byUrl, n.entry.url, n.key)
    for (const t of n.entry.tags) removeFrom(this.#byTag, t, n.key)
  }
}

function addTo (index: Map<string, Set<string>>, name: string, key: string): void {
  let s = index.get(name)
  if (s === undefined) {
    s = new Set()
    index.set(name, s)
  }
  s.add(key)
}

function removeFrom (index: Map<string, Set<string>>, name: string, key: string): void {
  const s = index.get(name)
  if (s === undefined) return
  s.delete(key)
  if (s.size === 0) index.delete(name)
}

export function createMemoryCache (o: MemoryCacheOptions): MemoryCache {
  return new MemoryCache(o)
}
