// The sticky-session map of one upstream: session id → server URL in SharedState, a bounded copy per worker, and
// pub/sub so that a session moved by one worker moves on every worker of every host. README "Sticky sessions".
import { Buffer } from 'node:buffer'
import { randomFillSync } from 'node:crypto'
import { encode, decode, type SharedState } from '../state/index.ts'
import { createHash } from './hash.ts'
import type { PickContext, Strategy, Target } from './strategy.ts'

/** The two log calls the table makes (a pino logger fits). */
export interface StickyLog {
  warn (obj: object, msg: string): void
  info (obj: object, msg: string): void
}

export interface SessionTableOptions {
  /** The upstream's servers, in config order (the same objects the strategy and the pools use). */
  readonly targets: readonly Target[]
  readonly state: Pick<SharedState, 'get' | 'set' | 'publish' | 'subscribe'>
  /** The shared-state key of a session id (prefix, hash tag, upstream). */
  readonly key: (id: string) => string
  /** The pub/sub channel moves are announced on (one per upstream). */
  readonly channel: string
  /** How long a mapping lives in shared state after its last write. */
  readonly ttlMs: number
  /** Clock in ms (local decisions only; nothing compares it across hosts). */
  readonly now: () => number
  readonly log: StickyLog
  /** Fills a buffer with random bytes (session ids). Default crypto.randomFillSync. */
  readonly randomFill?: (buf: Uint8Array) => void
  /** Most sessions held per worker; beyond it the oldest written or loaded is dropped. Default 100 000. */
  readonly maxSessions?: number
  /** After a state fault, the map stays local this long before shared state is tried again. Default 1000. */
  readonly retryMs?: number
  /** At most one fault warning per this long. Default 10 000. */
  readonly warnEveryMs?: number
}

/** resolve(): the shared map has no mapping for the id. */
export const UNKNOWN = 0
/** resolve(): shared state did not answer (or is in its retry pause) and this worker holds no copy. */
export const UNAVAILABLE = 1
export type Miss = typeof UNKNOWN | typeof UNAVAILABLE

/** A worker's copy of one mapping. One shape for every entry, so the map's values share a hidden class. */
export class Entry {
  url: string
  /** The copy is trusted until then (ttl/2 after it was written or read); later, shared state is asked again. */
  until: number
  /** Not (yet) in shared state: the write failed or happened while state was down. The next request writes it. */
  dirty: boolean
  /** A dirty entry that is a move: its write is also announced. */
  announce: boolean
  /** Just read from shared state: the next request renews its TTL there (sliding expiry). */
  fresh: boolean
  /** The table's epoch when the copy was written or read: a copy from before an outage is checked again after it. */
  epoch: number
  constructor (url: string, until: number, epoch: number) {
    this.url = url
    this.until = until
    this.dirty = false
    this.announce = false
    this.fresh = false
    this.epoch = epoch
  }
}

const NO_VALUE = (): undefined => undefined

export class SessionTable {
  readonly #targets: readonly Target[]
  readonly #byUrl: ReadonlyMap<string, Target>
  readonly #state: Pick<SharedState, 'get' | 'set' | 'publish' | 'subscribe'>
  readonly #key: (id: string) => string
  readonly #channel: string
  readonly #ttl: number
  readonly #trustMs: number
  readonly #now: () => number
  readonly #log: StickyLog
  readonly #fill: (buf: Uint8Array) => void
  readonly #maxSessions: number
  readonly #retryMs: number
  readonly #warnEveryMs: number
  readonly #map = new Map<string, Entry>()
  readonly #loading = new Map<string, Promise<Entry | Miss>>()
  readonly #ring: Strategy
  // Reused for every ring lookup: lookups are synchronous, so one mutable context is enough.
  readonly #ctx: { clientIp: string, header: PickContext['header'], cookie: PickContext['cookie'] }
  readonly #buf = Buffer.alloc(16)
  readonly #totalWeight: number
  #degradedUntil = 0
  #degraded = false
  /** Bumped when shared state comes back: every copy is read again once (Redis may have restarted empty). */
  #epoch = 0
  #lastWarn = -Infinity
  #subscribed = false
  #subscribing = false
  #unsubscribe: (() => Promise<void>) | null = null
  #closed = false
  /** State calls that failed so far. */
  faults = 0
  /** Mappings read from shared state, written to it, and moves announced / received. */
  reads = 0
  writes = 0
  announced = 0
  received = 0
  /** Minted ids that do not hash to their server (the tries ran out; the map is still right). */
  mintMisses = 0

  constructor (o: SessionTableOptions) {
    this.#targets = Array.from(o.targets)
    this.#byUrl = new Map(this.#targets.map((t) => [t.url, t]))
    this.#state = o.state
    this.#key = o.key
    this.#channel = o.channel
    this.#ttl = o.ttlMs
    this.#trustMs = Math.max(1, Math.floor(o.ttlMs / 2))
    this.#now = o.now
    this.#log = o.log
    this.#fill = o.randomFill ?? randomFillSync
    this.#maxSessions = o.maxSessions ?? 100_000
    this.#retryMs = o.retryMs ?? 1000
    this.#warnEveryMs = o.warnEveryMs ?? 10_000
    this.#ring = createHash(this.#targets, { by: 'ip' })
    this.#ctx = { clientIp: '', header: NO_VALUE, cookie: NO_VALUE }
    this.#totalWeight = this.#targets.reduce((s, t) => s + t.weight, 0)
    this.#subscribe()
  }

  /** Sessions held by this worker. */
  get size (): number { return this.#map.size }
  /** `shared`, or `local` while shared state is unavailable (then routing falls back to the hash of the id). */
  get mode (): 'shared' | 'local' { return this.#degraded ? 'local' : 'shared' }
  /** True while state calls are paused after a fault. */
  get degraded (): boolean { return this.#now() < this.#degradedUntil }

  /** The server of this upstream at `url`, if it is still in the config. */
  target (url: string): Target | undefined {
    return this.#byUrl.get(url)
  }

  /** True when this worker's trusted copy already maps `id` to `url` and is in shared state: nothing to write. */
  holds (id: string, url: string): boolean {
    const e = this.#map.get(id)
    return e !== undefined && e.url === url && !e.dirty && e.until > this.#now()
  }

  /** This worker's copy of a mapping, whatever its age (tests, learn mode's change check). */
  peek (id: string): Entry | undefined {
    return this.#map.get(id)
  }

  /**
   * Where `id` is mapped: this worker's copy while trusted (synchronous), else a read of shared state. A read that
   * fails resolves UNAVAILABLE (or the copy, however old): it never rejects. Concurrent reads of one id share one call.
   */
  resolve (id: string): Entry | Miss | Promise<Entry | Miss> {
    const now = this.#now()
    const e = this.#map.get(id)
    const paused = now < this.#degradedUntil
    if (e !== undefined && ((e.until > now && e.epoch === this.#epoch) || paused)) return e
    if (paused) return UNAVAILABLE
    let p = this.#loading.get(id)
    if (p === undefined) {
      p = this.#read(id)
      this.#loading.set(id, p)
    }
    return p
  }

  async #read (id: string): Promise<Entry | Miss> {
    try {
      const v = await this.#state.get(this.#key(id))
      this.reads++
      this.#ok()
      const now = this.#now()
      const old = this.#map.get(id)
      // A mapping this worker made while state was down is newer than anything state holds: keep it, write it next.
      if (old !== undefined && old.dirty) {
        old.until = now + this.#trustMs
        old.epoch = this.#epoch
        return old
      }
      if (v === undefined) {
        // Shared state lost it (a Redis restarted empty, a write made while it was down) but this worker saw it
        // within ttl: keep the copy and write it back rather than lose the session. Older copies are dropped.
        if (old !== undefined && now - (old.until - this.#trustMs) <= this.#ttl) {
          old.dirty = true
          old.until = now + this.#trustMs
          old.epoch = this.#epoch
          return old
        }
        if (old !== undefined) this.#map.delete(id)
        return UNKNOWN
      }
      const e = this.#put(id, Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8'), now)
      e.fresh = true
      return e
    } catch (err) {
      this.#fault(err)
      return this.#map.get(id) ?? UNAVAILABLE
    } finally {
      this.#loading.delete(id)
    }
  }

  /**
   * Records `id` → `url` here and in shared state (TTL ttl), and with `announce` publishes it so every worker's copy
   * follows (a move). While state is down the copy is kept dirty and written by a later request.
   */
  remember (id: string, url: string, announce: boolean): void {
    const now = this.#now()
    const old = this.#map.get(id)
    const pending = old !== undefined && old.url === url && old.dirty && old.announce
    const e = this.#put(id, url, now)
    const pub = announce || pending
    if (now < this.#degradedUntil) {
      e.dirty = true
      e.announce = pub
      return
    }
    this.writes++
    this.#state.set(this.#key(id), Buffer.from(url, 'utf8'), this.#ttl).then(() => { this.#ok() }, (err: unknown) => {
      this.#fault(err)
      if (this.#map.get(id) === e) { e.dirty = true; e.announce = pub }
    })
    if (pub) {
      // A copy: the shared Packr may reuse its output buffer before the store has written this one.
      this.announced++
      this.#state.publish(this.#channel, encode([id, url]).slice()).catch((err: unknown) => { this.#fault(err) })
    }
  }

  /** The consistent-hash pick for `id` over the eligible servers: every worker on every host picks the same one. */
  pickFor (id: string, exclude?: ReadonlySet<Target>): Target | undefined {
    this.#ctx.clientIp = id
    return this.#ring.pick(this.#ctx, exclude)
  }

  /**
   * A new random session id (16 random bytes, base64url: 22 characters), drawn until the ring maps it to `target`
   * (expected total weight ÷ target weight draws), so the hash fallback sends it to the same server.
   */
  mint (target: Target): string {
    const tries = Math.min(1000, 8 * Math.ceil(this.#totalWeight / Math.max(1, target.weight)))
    let id = ''
    for (let i = 0; i < tries; i++) {
      this.#fill(this.#buf)
      id = this.#buf.toString('base64url')
      if (this.pickFor(id) === target) return id
    }
    this.mintMisses++
    return id
  }

  #put (id: string, url: string, now: number): Entry {
    let e = this.#map.get(id)
    if (e === undefined) {
      if (this.#map.size >= this.#maxSessions) {
        const oldest = this.#map.keys().next()
        if (oldest.done !== true) this.#map.delete(oldest.value)
      }
      e = new Entry(url, now + this.#trustMs, this.#epoch)
    } else {
      // Re-inserted at the end: eviction takes the entries written or read longest ago.
      this.#map.delete(id)
      e.url = url
      e.until = now + this.#trustMs
      e.dirty = false
      e.announce = false
      e.fresh = false
      e.epoch = this.#epoch
    }
    this.#map.set(id, e)
    return e
  }

  #onMessage (msg: Uint8Array): void {
    let v: unknown
    try { v = decode(msg) } catch { return }
    if (!Array.isArray(v) || typeof v[0] !== 'string' || typeof v[1] !== 'string') return
    this.received++
    const e = this.#map.get(v[0])
    // Only copies this worker holds are updated; a session it never saw is read from shared state when it comes.
    if (e === undefined || e.url === v[1]) return
    e.url = v[1]
    e.until = this.#now() + this.#trustMs
    e.dirty = false
    e.announce = false
    e.fresh = false
    e.epoch = this.#epoch
  }

  #subscribe (): void {
    if (this.#subscribed || this.#subscribing || this.#closed) return
    this.#subscribing = true
    this.#state.subscribe(this.#channel, (m) => { this.#onMessage(m) }).then((off) => {
      this.#subscribing = false
      if (this.#closed) { off().catch(() => {}); return }
      this.#subscribed = true
      this.#unsubscribe = off
    }, (err: unknown) => {
      this.#subscribing = false
      this.#fault(err)
    })
  }

  #ok (): void {
    if (!this.#subscribed) this.#subscribe()
    if (!this.#degraded) return
    this.#degraded = false
    this.#degradedUntil = 0
    this.#epoch++
    this.#log.info({ faults: this.faults }, 'sticky: shared state is back; sessions are cluster-wide again')
  }

  #fault (err: unknown): void {
    const now = this.#now()
    this.faults++
    this.#degraded = true
    this.#degradedUntil = now + this.#retryMs
    if (now - this.#lastWarn >= this.#warnEveryMs) {
      this.#lastWarn = now
      this.#log.warn({ err, faults: this.faults }, 'sticky: shared state unavailable; unknown sessions follow the hash of their id')
    }
  }

  /** Stops listening for moves. */
  async close (): Promise<void> {
    this.#closed = true
    const off = this.#unsubscribe
    this.#unsubscribe = null
    if (off !== null) { try { await off() } catch {} }
  }
}

export function createSessionTable (o: SessionTableOptions): SessionTable {
  return new SessionTable(o)
}
