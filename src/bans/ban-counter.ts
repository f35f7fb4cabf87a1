// Counts a rate limit's rejections per key towards its ban rule without a state round trip per rejection: counts
// build up locally and are flushed as increments to a shared fixed-window counter every flushMs (or at once when a
// key's unflushed count reaches flushAt). A shared count of `after` or more bans the key; so does this worker's own
// count alone, which needs no state at all and keeps bans working while shared state is down.
// Error bound and fault behaviour: README "Bans and access lists".
import type { SharedState } from '../state/index.ts'
import type { BanLog } from './ban-sync.ts'

/** A ban rule as configured (durations in ms). */
export interface BanRule {
  readonly after: number
  readonly within: number
  readonly for: number
}

export interface BanCounterOptions {
  readonly state: Pick<SharedState, 'incr'>
  readonly rule: BanRule
  /** The shared counter's key for a limiter key (prefix, hash tag, route). Called per flush, not per rejection. */
  readonly stateKey: (key: string) => string
  /** Called once when a key is to be banned, with its expiry (wall clock). */
  readonly onBan: (key: string, expiresAtMs: number) => void
  /** Wall clock, ms. */
  readonly now: () => number
  readonly log: BanLog
  /** Unflushed counts are sent this often. Default 100. 0: no timer (tests call flush()). */
  readonly flushMs?: number
  /** A key's unflushed count that triggers its flush at once. Default ceil(after / (2 × workers)), at least 1. */
  readonly flushAt?: number
  /** Workers on this host, for the default flushAt. Default 1. */
  readonly workers?: number
  /** Most keys counted at once; beyond it the oldest is forgotten. Default 10 000. */
  readonly maxKeys?: number
  /** At most one fault warning per this long. Default 10 000. */
  readonly warnEveryMs?: number
}

// One shape for every key.
class Count {
  /** Start of this worker's own window for the key. */
  start: number
  /** Rejections in this worker's window. */
  count = 0
  /** Rejections not yet added to the shared counter. */
  pending = 0
  banned = false
  constructor (start: number) { this.start = start }
}

export interface BanCounter {
  /** Counts one rejection of `key` (a limiter key). Synchronous; never throws. */
  record (key: string): void
  /** Sends every unflushed count now; resolves when the increments are answered (or failed). */
  flush (): Promise<void>
  /** Keys counted at the moment. */
  readonly size: number
  /** Increments sent to shared state so far (one per key per flush). */
  readonly increments: number
  close (): void
}

export function createBanCounter (o: BanCounterOptions): BanCounter {
  return new Counter(o)
}

class Counter implements BanCounter {
  readonly #o: BanCounterOptions
  readonly #after: number
  readonly #within: number
  readonly #flushMs: number
  readonly #flushAt: number
  readonly #maxKeys: number
  readonly #warnEveryMs: number
  readonly #map = new Map<string, Count>()
  #timer: NodeJS.Timeout | undefined
  #lastWarn = -Infinity
  #down = false
  #faults = 0
  #closed = false
  increments = 0

  constructor (o: BanCounterOptions) {
    this.#o = o
    this.#after = o.rule.after
    this.#within = o.rule.within
    this.#flushMs = o.flushMs ?? 100
    this.#flushAt = Math.max(1, o.flushAt ?? Math.ceil(o.rule.after / (2 * Math.max(1, o.workers ?? 1))))
    this.#maxKeys = o.maxKeys ?? 10_000
    this.#warnEveryMs = o.warnEveryMs ?? 10_000
  }

  get size (): number { return this.#map.size }

  record (key: string): void {
    const now = this.#o.now()
    let c = this.#map.get(key)
    if (c === undefined || c.banned) {
      if (this.#map.size >= this.#maxKeys) this.#evict()
      c = new Count(now)
      this.#map.set(key, c)
    } else if (now - c.start >= this.#within) {
      c.start = now
      c.count = 0
    }
    c.count++
    c.pending++
    // This worker alone saw enough within the window: no need to ask anyone (and works with state down).
    if (c.count >= this.#after) {
      this.#ban(key, c, now)
      return
    }
    if (c.pending >= this.#flushAt) this.#send(key, c)
    else if (this.#timer === undefined && this.#flushMs > 0 && !this.#closed) {
      this.#timer = setTimeout(() => { this.#timer = undefined; this.flush().catch(() => {}) }, this.#flushMs)
      this.#timer.unref()
    }
  }

  async flush (): Promise<void> {
    const sends: Array<Promise<void>> = []
    // Auto-pipelining sends these in one write per Redis node.
    for (const [key, c] of this.#map) {
      if (c.pending > 0 && !c.banned) sends.push(this.#send(key, c))
    }
    await Promise.all(sends)
    // Keys whose window ended with nothing unflushed are forgotten (the shared counter expires by itself).
    const now = this.#o.now()
    for (const [key, c] of this.#map) {
      if (c.pending === 0 && now - c.start >= this.#within) this.#map.delete(key)
    }
  }

  async #send (key: string, c: Count): Promise<void> {
    const n = c.pending
    c.pending = 0
    this.increments++
    let total: number
    try {
      total = await this.#o.state.incr(this.#o.stateKey(key), n, this.#within)
    } catch (err) {
      // The counts stay in this worker's window, which can still ban on its own; they are not re-sent later, so a
      // counter that comes back does not see an old burst as new.
      this.#fault(err)
      return
    }
    if (this.#down) {
      this.#down = false
      this.#o.log.info({ faults: this.#faults }, 'bans: shared rejection counts are back')
    }
    if (total >= this.#after && !c.banned) this.#ban(key, c, this.#o.now())
  }

  #ban (key: string, c: Count, now: number): void {
    c.banned = true
    if (this.#map.get(key) === c) this.#map.delete(key)
    this.#o.onBan(key, now + this.#o.rule.for)
  }

  #fault (err: unknown): void {
    this.#faults++
    this.#down = true
    const now = this.#o.now()
    if (now - this.#lastWarn < this.#warnEveryMs) return
    this.#lastWarn = now
    this.#o.log.warn({ err, faults: this.#faults }, 'bans: shared state unavailable; counting rejections on this worker only')
  }

  #evict (): void {
    for (const k of this.#map.keys()) {
      this.#map.delete(k)
      return
    }
  }

  close (): void {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
