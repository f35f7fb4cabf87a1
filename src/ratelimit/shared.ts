// A cluster-wide limiter without a shared-state round trip per request: each worker leases tokens from the shared
// bucket in batches and spends them locally. Design, error bound and fault behaviour: README "Rate limiting".
import type { SharedState } from '../state/index.ts'
import { LocalBucket, evictOldest } from './local.ts'
import { ADMIT, type Decision, type Limiter, type RateRule } from './limiter.ts'

/** The two log calls the limiter makes (a pino logger fits). */
export interface LimiterLog {
  warn (obj: object, msg: string): void
  info (obj: object, msg: string): void
}

export interface SharedLimiterOptions {
  readonly state: Pick<SharedState, 'takeTokens'>
  readonly rule: RateRule
  /** The shared-state key of a limiter key (prefix, hash tag, route). Called once per refill, not per request. */
  readonly stateKey: (key: string) => string
  /** Workers on this host: the fallback share is rate / workers, and leases shrink by 2 × workers near empty. */
  readonly workers: number
  /** Wall clock in ms: it is sent to the shared bucket, which other hosts update too. */
  readonly now: () => number
  readonly log: LimiterLog
  /** Most keys held; beyond it the least recently refilled are dropped (their lease lapses). Default 10 000. */
  readonly maxKeys?: number
  /** A lease's unused tokens lapse this long after it was granted. Default 500. */
  readonly leaseMs?: number
  /** Most tokens one refill asks for. Default: a tenth of a second's worth, 1 to 1000, at most burst. */
  readonly maxLease?: number
  /** After a state fault, decisions stay local this long before shared state is tried again. Default 1000. */
  readonly retryMs?: number
  /** At most one fault warning per this long. Default 10 000. */
  readonly warnEveryMs?: number
  /** Requests that may wait on one key's refill; more are decided from the local share. Default 1000. */
  readonly maxWaiters?: number
}

// One shape for every key, so the map's values share a hidden class.
class Entry {
  /** Leased tokens not yet spent. */
  tokens = 0
  /** When the lease lapses. */
  expires = 0
  /** The shared bucket was empty: refuse locally until then instead of asking again. */
  deniedUntil = 0
  /** The shared bucket's level after this worker's last refill (it starts full). */
  shared: number
  refill: Promise<void> | null = null
  waiting = 0
  /** The fallback share's bucket, made on the first fault. */
  fb: LocalBucket | null = null
  constructor (shared: number) { this.shared = shared }
}

export interface SharedLimiter extends Limiter {
  /** `shared`, or `local` while shared state is unavailable. */
  readonly mode: 'shared' | 'local'
  /** Calls made to takeTokens so far. */
  readonly refills: number
}

export function createSharedLimiter (o: SharedLimiterOptions): SharedLimiter {
  return new Leases(o)
}

class Leases implements SharedLimiter {
  readonly #state: Pick<SharedState, 'takeTokens'>
  readonly #rate: number
  readonly #burst: number
  readonly #stateKey: (key: string) => string
  readonly #workers: number
  readonly #now: () => number
  readonly #log: LimiterLog
  readonly #maxKeys: number
  readonly #leaseMs: number
  readonly #maxLease: number
  readonly #retryMs: number
  readonly #warnEveryMs: number
  readonly #maxWaiters: number
  readonly #fbRate: number
  readonly #fbBurst: number
  readonly #map = new Map<string, Entry>()
  #degradedUntil = 0
  #degraded = false
  #lastWarn = -Infinity
  #faults = 0
  refills = 0

  constructor (o: SharedLimiterOptions) {
    this.#state = o.state
    this.#rate = o.rule.ratePerSec
    this.#burst = o.rule.burst
    this.#stateKey = o.stateKey
    this.#workers = Math.max(1, o.workers)
    this.#now = o.now
    this.#log = o.log
    this.#maxKeys = o.maxKeys ?? 10_000
    this.#leaseMs = o.leaseMs ?? 500
    this.#maxLease = o.maxLease ?? Math.max(1, Math.min(1000, this.#burst, Math.ceil(this.#rate / 10)))
    this.#retryMs = o.retryMs ?? 1000
    this.#warnEveryMs = o.warnEveryMs ?? 10_000
    this.#maxWaiters = o.maxWaiters ?? 1000
    this.#fbRate = this.#rate / this.#workers
    this.#fbBurst = Math.max(1, Math.ceil(this.#burst / this.#workers))
  }

  get size (): number { return this.#map.size }
  get mode (): 'shared' | 'local' { return this.#degraded ? 'local' : 'shared' }

  take (key: string): Decision | Promise<Decision> {
    const now = this.#now()
    let e = this.#map.get(key)
    if (e === undefined) {
      if (this.#map.size >= this.#maxKeys) evictOldest(this.#map)
      e = new Entry(this.#burst)
      this.#map.set(key, e)
    }
    if (now < this.#degradedUntil) return this.#local(e, now)
    if (e.tokens >= 1) {
      if (e.expires > now) {
        e.tokens--
        return ADMIT
      }
      e.tokens = 0
    }
    if (e.deniedUntil > now) return e.deniedUntil - now
    return this.#wait(key, e, 0)
  }

  #local (e: Entry, now: number): Decision {
    e.fb ??= new LocalBucket(this.#fbBurst, now)
    return e.fb.take(now, this.#fbRate, this.#fbBurst)
  }

  async #wait (key: string, e: Entry, round: number): Promise<Decision> {
    if (e.waiting >= this.#maxWaiters) return this.#local(e, this.#now())
    e.refill ??= this.#refill(key, e)
    e.waiting++
    try {
      await e.refill
    } finally {
      e.waiting--
    }
    const now = this.#now()
    if (now < this.#degradedUntil) return this.#local(e, now)
    if (e.tokens >= 1) {
      e.tokens--
      return ADMIT
    }
    if (e.deniedUntil > now) return e.deniedUntil - now
    // The refill was shared with more waiters than it brought tokens for; try again, a bounded number of times.
    if (round >= 2) return Math.max(1, Math.ceil(1000 / this.#rate))
    return await this.#wait(key, e, round + 1)
  }

  async #refill (key: string, e: Entry): Promise<void> {
    // One microtask, so requests for the key dispatched in the same tick count among the waiters.
    await null
    // The lease shrinks with the bucket's last known level; requests already waiting are real demand, not hoarding,
    // so they may ask past maxLease (up to burst, the most the bucket can hold).
    const share = Math.min(this.#maxLease, Math.floor(e.shared / (2 * this.#workers)))
    const want = Math.max(1, Math.min(this.#burst, Math.max(share, e.waiting)))
    this.refills++
    try {
      const r = await this.#state.takeTokens(this.#stateKey(key), { ratePerSec: this.#rate, burst: this.#burst, want, nowMs: this.#now() })
      const now = this.#now()
      if (this.#degraded) {
        this.#degraded = false
        this.#degradedUntil = 0
        this.#log.info({ faults: this.#faults }, 'rate limit: shared state is back; limits are cluster-wide again')
      }
      e.shared = r.tokens
      e.tokens = r.granted
      e.expires = now + this.#leaseMs
      e.deniedUntil = r.granted === 0 ? now + Math.max(1, r.retryAfterMs) : 0
      // Recently refilled keys move to the end, so eviction takes the idle ones first.
      if (this.#map.get(key) === e) {
        this.#map.delete(key)
        this.#map.set(key, e)
      }
    } catch (err) {
      // Any failure here is a state fault: a request is never failed because of state.
      const now = this.#now()
      this.#faults++
      this.#degraded = true
      this.#degradedUntil = now + this.#retryMs
      if (now - this.#lastWarn >= this.#warnEveryMs) {
        this.#lastWarn = now
        this.#log.warn({ err, faults: this.#faults, share: this.#fbRate }, 'rate limit: shared state unavailable; enforcing this worker\'s local share')
      }
    } finally {
      e.refill = null
    }
  }
}
