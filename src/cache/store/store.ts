// The cache store: the worker's memory LRU in front of the shared level (SharedState: Redis, or the
// primary's embedded store), cluster-wide fill locks for request coalescing, and purge by url, prefix or tag that
// reaches every worker's memory through pub/sub. Shared-state faults become misses and memory-only writes.
import { Buffer } from 'node:buffer'
import { randomBytes } from 'node:crypto'
import type { KeySpace, SharedState } from '../../state/index.ts'
import type { CacheEntry, CacheStore, PurgeSelector } from './types.ts'
import { createEntryCodec, CACHE_FORMAT_VERSION, type EntryCodec } from './codec.ts'
import { MemoryCache } from './memory.ts'
import { purgeOf, purgeShared, PURGE_PREFIX, PURGE_TAG, PURGE_URL, type PurgeKeys } from './purge.ts'

/** The two log calls the store makes (a pino logger fits). */
export interface CacheStoreLog {
  warn (obj: object, msg: string): void
  info (obj: object, msg: string): void
}

export interface CacheStoreOptions {
  readonly state: SharedState
  readonly keys: KeySpace
  /** The memory level's bound, estimated bytes (memory.ts entryBytes). */
  readonly memoryBytes: number
  /** Wall clock, ms: entry expiry (shared with other hosts) and waitFill deadlines. */
  readonly now: () => number
  readonly log: CacheStoreLog
  /** How often waitFill checks whether a held lock still exists (its holder may have died). Default 100. */
  readonly lockPollMs?: number
  /** After a shared-state fault, the shared level is skipped (reads miss at once) this long. Default 1000. */
  readonly retryMs?: number
  /** At most one fault warning per this long. Default 10 000. */
  readonly warnEveryMs?: number
  /** Lock tokens. Default crypto.randomBytes. */
  readonly random?: (n: number) => Uint8Array
}

export interface CacheStoreStats {
  /** Answers by X-Cache since the worker started. */
  readonly hits: number
  readonly misses: number
  readonly stale: number
  readonly bypass: number
  /** Shared-state faults seen (each turned into a miss, a memory-only write or an 'unavailable' lock). */
  readonly faults: number
  readonly memoryBytes: number
  readonly memoryEntries: number
  /** Responses this worker stored (put with a positive TTL) since it started. */
  readonly fills: number
  /** The shared level is being skipped after a fault. */
  readonly degraded: boolean
}

export interface CacheStoreHandle extends CacheStore {
  /** Resolves once the fill and purge subscriptions are up (or failed: they are retried on later calls). */
  ready (): Promise<void>
  stats (): CacheStoreStats
  /** Counts a finished request by its X-Cache value (Exchange.cacheStatus); null (not a cached route) is ignored. */
  answered (status: string | null): void
}

type Fill = 'released' | 'expired' | 'timeout'
interface Waiter { readonly resolve: (r: Fill) => void, readonly deadline: number }

/** The waiters on one key: one poll timer for all of them. */
class WaitGroup {
  waiters: Waiter[] = []
  timer: NodeJS.Timeout | undefined = undefined
  polling = false
}

const UTF8 = new TextEncoder()
/** A fill announcement is the filler's origin (this many random bytes, hex) followed by the key. */
const ORIGIN_BYTES = 8
const FROM_UTF8 = new TextDecoder()

/**
 * Key layout (every key hash-tagged on its own, so entries spread over Cluster slots; no script spans two keys):
 * `key('cache', k)` the envelope, `related(key('cache', k), 'lock')` its fill lock, `key('cache-vary', pk)` a Vary
 * record, `key('cache-url', url)` the expiring set of cache keys of a url, `key('cache-tag', tag)` the same per tag,
 * and `key('cache-urls', 'all')` the expiring set of every url (prefix purge). Channels `cache:fill`, `cache:purge`.
 */
export function createCacheStore (o: CacheStoreOptions): CacheStoreHandle {
  return new Store(o)
}

class Store implements CacheStoreHandle {
  readonly #state: SharedState
  readonly #keys: KeySpace
  readonly #now: () => number
  readonly #log: CacheStoreLog
  readonly #pollMs: number
  readonly #retryMs: number
  readonly #warnEveryMs: number
  readonly #random: (n: number) => Uint8Array
  readonly #codec: EntryCodec = createEntryCodec()
  readonly #mem: MemoryCache
  readonly #urlsKey: string
  readonly #fillChannel: string
  readonly #purgeChannel: string
  readonly #purgeKeys: PurgeKeys
  /** Names this store in its fill announcements, so it can tell its own from other workers' (see #onFill). */
  readonly #origin: string
  readonly #tokens = new Map<string, Uint8Array>()
  readonly #waits = new Map<string, WaitGroup>()
  #offFill: (() => Promise<void>) | undefined
  #offPurge: (() => Promise<void>) | undefined
  #subscribing: Promise<void> | undefined
  #degradedUntil = 0
  #degraded = false
  #lastWarn = -Infinity
  #faults = 0
  #fills = 0
  readonly #answers = { HIT: 0, MISS: 0, STALE: 0, BYPASS: 0 }
  /** Bumped by every purge applied here, so a shared read that raced a purge is not copied into memory. */
  #purges = 0
  #closed = false

  constructor (o: CacheStoreOptions) {
    this.#state = o.state
    this.#keys = o.keys
    this.#now = o.now
    this.#log = o.log
    this.#pollMs = o.lockPollMs ?? 100
    this.#retryMs = o.retryMs ?? 1000
    this.#warnEveryMs = o.warnEveryMs ?? 10_000
    this.#random = o.random ?? randomBytes
    this.#origin = Buffer.from(this.#random(ORIGIN_BYTES)).toString('hex')
    this.#mem = new MemoryCache({ maxBytes: o.memoryBytes, now: o.now })
    this.#urlsKey = o.keys.key('cache-urls', 'all')
    this.#fillChannel = o.keys.channel('cache:fill')
    this.#purgeChannel = o.keys.channel('cache:purge')
    this.#purgeKeys = { keys: o.keys, entryKey: (k) => this.#entryKey(k), urlsKey: this.#urlsKey }
    void this.#subscribe()
  }

  async ready (): Promise<void> {
    await this.#subscribe()
  }

  stats (): CacheStoreStats {
    const a = this.#answers
    return { hits: a.HIT, misses: a.MISS, stale: a.STALE, bypass: a.BYPASS, faults: this.#faults, memoryBytes: this.#mem.bytes, memoryEntries: this.#mem.size, fills: this.#fills, degraded: this.#bypass() }
  }

  answered (status: string | null): void {
    if (status === 'HIT' || status === 'MISS' || status === 'STALE' || status === 'BYPASS') this.#answers[status]++
  }

  getLocal (key: string): CacheEntry | undefined {
    return this.#mem.get(key)
  }

  async get (key: string): Promise<CacheEntry | undefined> {
    return this.#mem.get(key) ?? await this.getShared(key)
  }

  async getShared (key: string): Promise<CacheEntry | undefined> {
    if (this.#bypass()) return undefined
    const purges = this.#purges
    let bytes: Uint8Array | undefined
    try {
      bytes = await this.#state.get(this.#entryKey(key))
    } catch (err) { this.#fault(err, 'get'); return undefined }
    this.#ok()
    if (bytes === undefined) return undefined
    const s = this.#codec.decode(bytes)
    if (s === undefined || s.expiresAt <= this.#now()) return undefined
    // Read before a purge that arrived meanwhile: serve it to this request, but do not keep it.
    if (purges === this.#purges) this.#mem.put(key, s.entry, s.expiresAt)
    return s.entry
  }

  async put (key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) return
    this.#fills++
    const now = this.#now()
    const expiresAt = now + ttlMs
    this.#mem.put(key, entry, expiresAt)
    if (this.#bypass()) return
    const s = this.#state
    const writes: Array<Promise<unknown>> = [
      s.set(this.#entryKey(key), this.#codec.encode(entry, expiresAt), ttlMs),
      s.addExpiring(this.#urlsKey, entry.url, expiresAt, now),
      s.addExpiring(this.#keys.key('cache-url', entry.url), key, expiresAt, now)
    ]
    for (const tag of entry.tags) writes.push(s.addExpiring(this.#keys.key('cache-tag', tag), key, expiresAt, now))
    try {
      await Promise.all(writes)
    } catch (err) { this.#fault(err, 'put'); return }
    this.#ok()
  }

  getVaryLocal (primaryKey: string): readonly string[] | undefined {
    return this.#mem.getVary(primaryKey)
  }

  async getVary (primaryKey: string): Promise<readonly string[] | undefined> {
    const local = this.#mem.getVary(primaryKey)
    if (local !== undefined || this.#bypass()) return local
    let bytes: Uint8Array | undefined
    try {
      bytes = await this.#state.get(this.#keys.key('cache-vary', primaryKey))
    } catch (err) { this.#fault(err, 'getVary'); return undefined }
    this.#ok()
    if (bytes === undefined) return undefined
    let v: unknown
    try { v = this.#codec.unpack(bytes) } catch { return undefined }
    if (!Array.isArray(v) || v[0] !== CACHE_FORMAT_VERSION || typeof v[1] !== 'number' || !Array.isArray(v[2]) ||
      !(v[2] as unknown[]).every((n) => typeof n === 'string')) return undefined
    const expiresAt = v[1]
    const names = v[2] as string[]
    this.#mem.setVary(primaryKey, names, expiresAt)
    return expiresAt > this.#now() ? names : undefined
  }

  async setVary (primaryKey: string, names: readonly string[], ttlMs: number): Promise<void> {
    const expiresAt = this.#now() + ttlMs
    this.#mem.setVary(primaryKey, names, expiresAt)
    // The resource varies now: an entry stored under the bare primary key (from before it did) must not answer here.
    if (names.length > 0) this.#mem.delete(primaryKey)
    if (this.#bypass()) return
    try {
      await this.#state.set(this.#keys.key('cache-vary', primaryKey), this.#codec.pack([CACHE_FORMAT_VERSION, expiresAt, names]), ttlMs)
    } catch (err) { this.#fault(err, 'setVary'); return }
    this.#ok()
  }

  async lock (key: string, ttlMs: number): Promise<'acquired' | 'held' | 'unavailable'> {
    if (this.#closed || this.#bypass()) return 'unavailable'
    // This worker already holds it, or already waits on its holder: no round trip (a hot key's burst in one worker
    // costs one SET NX). The poll loop catches a lock that expired meanwhile.
    if (this.#tokens.has(key) || this.#waits.has(key)) return 'held'
    // Not awaited: with Redis down a subscribe waits seconds. Waiters do without it: the poll sees the lock gone and
    // the entry there ('released'), just up to lockPollMs later than the announcement would have.
    if (this.#offFill === undefined) void this.#subscribe()
    const token = this.#random(16)
    let won: boolean
    try {
      won = await this.#state.setIfAbsent(this.#lockKey(key), token, ttlMs)
    } catch (err) { this.#fault(err, 'lock'); return 'unavailable' }
    this.#ok()
    if (!won) return 'held'
    this.#tokens.set(key, token)
    return 'acquired'
  }

  async release (key: string): Promise<void> {
    const token = this.#tokens.get(key)
    if (token === undefined) return
    this.#tokens.delete(key)
    // Waiters in this worker need no round trip; the announcement reaches the others (and finds none here).
    this.#settle(key, 'released')
    try {
      // Only if still ours: a holder slower than its TTL must not drop the next holder's lock.
      await this.#state.delIfEquals(this.#lockKey(key), token)
      await this.#state.publish(this.#fillChannel, UTF8.encode(this.#origin + key))
    } catch (err) { this.#fault(err, 'release') }
  }

  async waitFill (key: string, timeoutMs: number): Promise<Fill> {
    if (this.#closed) return 'timeout'
    return await new Promise<Fill>((resolve) => {
      let g = this.#waits.get(key)
      if (g === undefined) {
        const group = new WaitGroup()
        group.timer = setInterval(() => { this.#poll(key, group) }, this.#pollMs)
        this.#waits.set(key, group)
        g = group
      }
      g.waiters.push({ resolve, deadline: this.#now() + timeoutMs })
    })
  }

  async purge (selector: PurgeSelector): Promise<number> {
    const [kind, value] = purgeOf(selector)
    this.#applyPurge(kind, value)
    let removed = 0
    try {
      removed = await purgeShared(this.#state, this.#purgeKeys, kind, value, this.#now())
      await this.#state.publish(this.#purgeChannel, this.#codec.pack([kind, value]))
    } catch (err) { this.#fault(err, 'purge') }
    return removed
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const key of [...this.#waits.keys()]) this.#settle(key, 'timeout')
    this.#tokens.clear()
    await this.#unsubscribe()
    this.#mem.clear()
  }

  async #unsubscribe (): Promise<void> {
    const offs = [this.#offFill, this.#offPurge]
    this.#offFill = undefined
    this.#offPurge = undefined
    await Promise.all(offs.map(async (off) => { try { await off?.() } catch { /* the state is going away too */ } }))
  }

  #applyPurge (kind: number, value: string): void {
    this.#purges++
    if (kind === PURGE_URL) this.#mem.removeUrl(value)
    else if (kind === PURGE_PREFIX) this.#mem.removePrefix(value)
    else if (kind === PURGE_TAG) this.#mem.removeTag(value)
  }

  #onPurge = (msg: Uint8Array): void => {
    let v: unknown
    try { v = this.#codec.unpack(msg) } catch { return }
    if (Array.isArray(v) && typeof v[0] === 'number' && typeof v[1] === 'string') this.#applyPurge(v[0], v[1])
  }

  /**
   * Another worker or host filled `key`: waiters here go and read it, and this worker's memory copy, if any, is
   * dropped. That copy is older than the new entry; left in place it would hide it (the next request here would find
   * the copy stale and revalidate again, although a fresh entry sits in the shared level).
   */
  #onFill = (msg: Uint8Array): void => {
    const text = FROM_UTF8.decode(msg)
    const origin = text.slice(0, 2 * ORIGIN_BYTES)
    const key = text.slice(2 * ORIGIN_BYTES)
    if (origin !== this.#origin) this.#mem.delete(key)
    this.#settle(key, 'released')
  }

  #poll (key: string, g: WaitGroup): void {
    const now = this.#now()
    const left: Waiter[] = []
    for (const w of g.waiters) {
      if (w.deadline <= now) w.resolve('timeout')
      else left.push(w)
    }
    g.waiters = left
    if (left.length === 0) { this.#endWait(key, g); return }
    if (g.polling) return
    g.polling = true
    this.#state.getMany([this.#lockKey(key), this.#entryKey(key)]).then(([lock, entry]) => {
      g.polling = false
      if (lock !== undefined || this.#waits.get(key) !== g) return
      // Gone without an announcement: released while the message was in flight (or before this wait began) when
      // the entry is there; otherwise the holder died (or failed without storing): try lock() again.
      this.#settle(key, entry === undefined ? 'expired' : 'released')
    }, (err: unknown) => {
      g.polling = false
      this.#fault(err, 'lock poll')
    })
  }

  #settle (key: string, r: Fill): void {
    const g = this.#waits.get(key)
    if (g === undefined) return
    this.#endWait(key, g)
    for (const w of g.waiters) w.resolve(r)
    g.waiters = []
  }

  #endWait (key: string, g: WaitGroup): void {
    clearInterval(g.timer)
    if (this.#waits.get(key) === g) this.#waits.delete(key)
  }

  /** Subscribes to the channels not yet subscribed; concurrent callers share one attempt. Never rejects. */
  async #subscribe (): Promise<void> {
    if (this.#closed || (this.#offFill !== undefined && this.#offPurge !== undefined)) return
    this.#subscribing ??= (async () => {
      try {
        this.#offFill ??= await this.#state.subscribe(this.#fillChannel, this.#onFill)
        this.#offPurge ??= await this.#state.subscribe(this.#purgeChannel, this.#onPurge)
      } catch (err) { this.#fault(err, 'subscribe') } finally { this.#subscribing = undefined }
      if (this.#closed) await this.#unsubscribe()
    })()
    await this.#subscribing
  }

  #bypass (): boolean {
    if (this.#degradedUntil === 0) return false
    if (this.#now() < this.#degradedUntil) return true
    // The retry window is over: try the shared level again, and the subscriptions a fault may have prevented.
    this.#degradedUntil = 0
    void this.#subscribe()
    return false
  }

  #ok (): void {
    if (!this.#degraded) return
    this.#degraded = false
    this.#log.info({ faults: this.#faults }, 'cache shared level available again')
  }

  #fault (err: unknown, what: string): void {
    this.#faults++
    this.#degraded = true
    const now = this.#now()
    this.#degradedUntil = now + this.#retryMs
    if (now - this.#lastWarn < this.#warnEveryMs) return
    this.#lastWarn = now
    this.#log.warn({ err: (err as Error | undefined)?.message ?? String(err), op: what, faults: this.#faults },
      'cache shared level unavailable: reads miss, writes stay in worker memory')
  }

  #entryKey (key: string): string { return this.#keys.key('cache', key) }
  #lockKey (key: string): string { return this.#keys.related(this.#keys.key('cache', key), 'lock') }
}
