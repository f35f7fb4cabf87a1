// The embedded store: SharedState in memory, for a single host without Redis. It lives in the primary; workers reach
// it over IPC (embedded-ipc.ts), so all workers of a host share limits, sessions and bans.
import type { SharedState, TokenRequest, TokenResult, MessageHandler, ExpiringMember } from './shared-state.ts'
import { StateUnavailableError } from './errors.ts'
import { takeFromBucket, BUCKET_TTL_SLACK_MS } from './token-bucket.ts'

export interface EmbeddedStoreOptions {
  /** Wall clock (ms) for expiry. Default Date.now. */
  readonly now?: () => number
  /** How often expired keys are swept (ms); reads also drop them lazily. 0: no sweep timer. Default 10 000. */
  readonly sweepMs?: number
}

const BYTES = 0
const COUNTER = 1
const BUCKET = 2
const EXPIRING = 3
type Kind = typeof BYTES | typeof COUNTER | typeof BUCKET | typeof EXPIRING

// One shape for every entry, so the map's values share a hidden class.
class Entry {
  kind: Kind
  bytes: Uint8Array | undefined
  count: number
  tokens: number
  ts: number
  /** An expiring set: member → expiry (the caller's wall clock, ms). */
  members: Map<string, number> | undefined
  /** Absolute expiry (ms on the store's clock); Infinity: none. */
  exp: number
  constructor (kind: Kind, bytes: Uint8Array | undefined, count: number, tokens: number, ts: number, exp: number, members?: Map<string, number>) {
    this.kind = kind
    this.bytes = bytes
    this.count = count
    this.tokens = tokens
    this.ts = ts
    this.members = members
    this.exp = exp
  }
}

const ASCII = new TextEncoder()

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

export class EmbeddedStore implements SharedState {
  readonly #now: () => number
  readonly #map = new Map<string, Entry>()
  readonly #handlers = new Map<string, Set<MessageHandler>>()
  readonly #sweep: NodeJS.Timeout | undefined
  #closed = false

  constructor (o: EmbeddedStoreOptions = {}) {
    this.#now = o.now ?? Date.now
    const every = o.sweepMs ?? 10_000
    if (every > 0) {
      this.#sweep = setInterval(() => { this.sweep() }, every)
      this.#sweep.unref()
    }
  }

  /** Number of keys held, expired ones included until swept or read. */
  get size (): number { return this.#map.size }

  /** Drops every expired key; resolves how many. */
  sweep (): number {
    const now = this.#now()
    let n = 0
    for (const [k, e] of this.#map) {
      if (e.exp <= now) { this.#map.delete(k); n++ }
    }
    return n
  }

  #live (key: string): Entry | undefined {
    const e = this.#map.get(key)
    if (e === undefined) return undefined
    if (e.exp <= this.#now()) { this.#map.delete(key); return undefined }
    return e
  }

  #check (): void {
    if (this.#closed) throw new StateUnavailableError('state store is closed')
  }

  async get (key: string): Promise<Uint8Array | undefined> {
    this.#check()
    const e = this.#live(key)
    if (e === undefined) return undefined
    // A counter reads as its decimal digits, as it does from Redis.
    return e.kind === BYTES ? e.bytes : e.kind === COUNTER ? ASCII.encode(String(e.count)) : undefined
  }

  async getMany (keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    return await Promise.all(keys.map(async (k) => await this.get(k)))
  }

  async set (key: string, value: Uint8Array, ttlMs?: number): Promise<void> {
    this.#check()
    // A copy: the caller may reuse its buffer (msgpackr does).
    this.#map.set(key, new Entry(BYTES, value.slice(), 0, 0, 0, ttlMs === undefined ? Infinity : this.#now() + Math.max(1, Math.ceil(ttlMs))))
  }

  async del (...keys: string[]): Promise<number> {
    this.#check()
    let n = 0
    for (const k of keys) {
      if (this.#live(k) !== undefined) { this.#map.delete(k); n++ }
    }
    return n
  }

  async setIfAbsent (key: string, value: Uint8Array, ttlMs: number): Promise<boolean> {
    this.#check()
    if (this.#live(key) !== undefined) return false
    this.#map.set(key, new Entry(BYTES, value.slice(), 0, 0, 0, this.#now() + Math.max(1, Math.ceil(ttlMs))))
    return true
  }

  async delIfEquals (key: string, value: Uint8Array): Promise<boolean> {
    this.#check()
    const e = this.#live(key)
    if (e === undefined || e.kind !== BYTES || e.bytes === undefined || !sameBytes(e.bytes, value)) return false
    this.#map.delete(key)
    return true
  }

  async incr (key: string, by: number, ttlMs: number): Promise<number> {
    this.#check()
    const e = this.#live(key)
    if (e === undefined || e.kind !== COUNTER) {
      this.#map.set(key, new Entry(COUNTER, undefined, by, 0, 0, this.#now() + Math.max(1, Math.ceil(ttlMs))))
      return by
    }
    e.count += by
    return e.count
  }

  async takeTokens (key: string, req: TokenRequest): Promise<TokenResult> {
    this.#check()
    const e = this.#live(key)
    const prev = e !== undefined && e.kind === BUCKET ? { tokens: e.tokens, ts: e.ts } : undefined
    const { bucket, result, ttlMs } = takeFromBucket(prev, req)
    this.#map.set(key, new Entry(BUCKET, undefined, 0, bucket.tokens, bucket.ts, this.#now() + ttlMs))
    return result
  }

  async addExpiring (key: string, member: string, expiresAtMs: number, nowMs: number): Promise<void> {
    this.#check()
    const e = this.#live(key)
    let m: Map<string, number>
    if (e === undefined || e.kind !== EXPIRING || e.members === undefined) {
      m = new Map()
      this.#map.set(key, new Entry(EXPIRING, undefined, 0, 0, 0, Infinity, m))
    } else {
      m = e.members
    }
    let top = -Infinity
    for (const [k, exp] of m) {
      if (exp <= nowMs) m.delete(k)
      else if (exp > top) top = exp
    }
    const cur = m.get(member)
    if (cur === undefined || cur < expiresAtMs) m.set(member, expiresAtMs)
    top = Math.max(top, m.get(member)!)
    // The same rule as the Lua script: the key lives until its last member expires (caller's clock) plus slack.
    this.#map.get(key)!.exp = this.#now() + Math.ceil(top - nowMs) + BUCKET_TTL_SLACK_MS
  }

  async listExpiring (key: string, nowMs: number): Promise<ExpiringMember[]> {
    this.#check()
    const e = this.#live(key)
    if (e === undefined || e.members === undefined) return []
    const out: ExpiringMember[] = []
    for (const [member, expiresAtMs] of e.members) if (expiresAtMs > nowMs) out.push({ member, expiresAtMs })
    return out.sort((a, b) => a.expiresAtMs - b.expiresAtMs)
  }

  async removeExpiring (key: string, ...members: string[]): Promise<number> {
    this.#check()
    const e = this.#live(key)
    if (e === undefined || e.members === undefined) return 0
    let n = 0
    for (const m of members) if (e.members.delete(m)) n++
    return n
  }

  async publish (channel: string, message: Uint8Array): Promise<void> {
    this.#check()
    const hs = this.#handlers.get(channel)
    if (hs === undefined) return
    // Delivered on a later tick, as from Redis: a publisher never runs subscriber code inside its own call.
    const copy = message.slice()
    queueMicrotask(() => {
      for (const h of hs) {
        try { h(copy) } catch { /* a subscriber's fault is its own; the others still get the message */ }
      }
    })
  }

  async subscribe (channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    this.#check()
    let hs = this.#handlers.get(channel)
    if (hs === undefined) {
      hs = new Set()
      this.#handlers.set(channel, hs)
    }
    const set = hs
    set.add(handler)
    return async () => {
      set.delete(handler)
      if (set.size === 0 && this.#handlers.get(channel) === set) this.#handlers.delete(channel)
    }
  }

  async close (): Promise<void> {
    this.#closed = true
    clearInterval(this.#sweep)
    this.#map.clear()
    this.#handlers.clear()
  }
}
