// Keeps the worker's ban table in step with the cluster: a new ban is written to a listable expiring set in shared
// state, bumps a version counter beside it, and is published on a channel that every worker of every host applies at
// once. Each tick reads the version (one small GET) and re-reads the set when it moved, after a state fault, and every
// resync interval, so a worker that started late, missed a message, or raced a reconnecting subscriber catches up
// within a tick. State faults never reach a request: the table keeps what it knows.
import { Buffer } from 'node:buffer'
import { encode, decode, type SharedState } from '../state/index.ts'
import type { BanTable } from './ban-table.ts'

/** The two log calls this makes (a pino logger fits). */
export interface BanLog {
  warn (obj: object, msg: string): void
  info (obj: object, msg: string): void
}

export interface BanSyncOptions {
  readonly state: Pick<SharedState, 'addExpiring' | 'listExpiring' | 'publish' | 'subscribe' | 'incr' | 'get'>
  readonly table: BanTable
  /** The expiring set holding every active ban (one hash-tagged key). */
  readonly listKey: string
  /** A counter bumped on every ban write: workers re-read the set when it moves. */
  readonly versionKey: string
  readonly channel: string
  /** Wall clock, ms. */
  readonly now: () => number
  readonly log: BanLog
  /** How often the background tick runs (retries, sweep). Default 1000. 0: no timer (tests call tick()). */
  readonly tickMs?: number
  /** The set is re-read this often even without a fault, to pick up messages lost in flight. Default 10 000. */
  readonly resyncMs?: number
  /** At most one fault warning per this long. Default 10 000. */
  readonly warnEveryMs?: number
  /** Bans made here but not yet written to shared state, kept for retry. Default 10 000. */
  readonly maxUnsent?: number
}

export interface BanSync {
  /** Subscribes and reads the set once; resolves after that first attempt whatever its outcome (never rejects). */
  start (): Promise<void>
  /** Bans `member` until `expiresAtMs` here at once, then in shared state and on every other worker. */
  ban (member: string, expiresAtMs: number): void
  /** One round of background work: subscribe if not yet, write unsent bans, re-read the set when due. */
  tick (): Promise<void>
  /** Shared state has failed since the last successful read. */
  readonly degraded: boolean
  close (): Promise<void>
}

// The version counter's window: it starts again from 1 after this long, which reads as a change like any other.
const VERSION_TTL_MS = 24 * 3600 * 1000

export function createBanSync (o: BanSyncOptions): BanSync {
  return new Sync(o)
}

class Sync implements BanSync {
  readonly #o: BanSyncOptions
  readonly #resyncMs: number
  readonly #warnEveryMs: number
  readonly #maxUnsent: number
  readonly #unsent = new Map<string, number>()
  #timer: NodeJS.Timeout | undefined
  #unsubscribe: (() => Promise<void>) | null = null
  #lastSync = -Infinity
  #version: string | undefined = undefined
  #stale = true
  #faults = 0
  #warned = false
  #lastWarn = -Infinity
  #busy: Promise<void> | null = null
  #closed = false

  constructor (o: BanSyncOptions) {
    this.#o = o
    this.#resyncMs = o.resyncMs ?? 10_000
    this.#warnEveryMs = o.warnEveryMs ?? 10_000
    this.#maxUnsent = o.maxUnsent ?? 10_000
  }

  get degraded (): boolean { return this.#stale && this.#faults > 0 }

  async start (): Promise<void> {
    const every = this.#o.tickMs ?? 1000
    if (every > 0) {
      this.#timer = setInterval(() => { this.tick().catch(() => {}) }, every)
      this.#timer.unref()
    }
    await this.tick()
  }

  ban (member: string, expiresAtMs: number): void {
    if (!this.#o.table.add(member, expiresAtMs)) return
    this.#push(member, expiresAtMs).catch(() => {})
  }

  async #push (member: string, expiresAtMs: number): Promise<void> {
    const { state, listKey, channel, now } = this.#o
    try {
      // The set first: a worker that misses the message still finds the ban on its next read.
      await state.addExpiring(listKey, member, expiresAtMs, now())
      await state.incr(this.#o.versionKey, 1, VERSION_TTL_MS)
      await state.publish(channel, encode([member, expiresAtMs]))
      this.#unsent.delete(member)
    } catch (err) {
      if (this.#unsent.size < this.#maxUnsent || this.#unsent.has(member)) this.#unsent.set(member, expiresAtMs)
      this.#fault(err, 'write')
    }
  }

  #onMessage = (msg: Uint8Array): void => {
    let v: unknown
    try { v = decode(msg) } catch { return }
    if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number') this.#o.table.add(v[0], v[1])
  }

  async tick (): Promise<void> {
    if (this.#closed) return
    // One round at a time: a slow state must not pile rounds up.
    this.#busy ??= this.#round().finally(() => { this.#busy = null })
    await this.#busy
  }

  async #round (): Promise<void> {
    const { state, table, listKey, channel, now } = this.#o
    table.sweep()
    if (this.#unsubscribe === null) {
      try {
        this.#unsubscribe = await state.subscribe(channel, this.#onMessage)
      } catch (err) { this.#fault(err, 'subscribe') }
    }
    const t = now()
    const faults = this.#faults
    for (const [member, exp] of this.#unsent) {
      if (exp <= t) this.#unsent.delete(member)
      else await this.#push(member, exp)
      if (this.#faults !== faults) break // still down: the rest waits for the next tick
    }
    try {
      // Read before the list, so a ban written in between moves the version again and is read next tick.
      const v = await state.get(this.#o.versionKey)
      const version = v === undefined ? '' : Buffer.from(v).toString('latin1')
      if (!this.#stale && version === this.#version && t - this.#lastSync < this.#resyncMs) return
      const list = await state.listExpiring(listKey, t)
      this.#version = version
      for (const b of list) table.add(b.member, b.expiresAtMs)
      this.#lastSync = t
      this.#stale = false
      if (this.#warned) {
        this.#warned = false
        this.#o.log.info({ faults: this.#faults, bans: table.size }, 'bans: shared state is back; active bans reloaded')
      }
    } catch (err) { this.#fault(err, 'read') }
  }

  #fault (err: unknown, what: string): void {
    this.#faults++
    this.#stale = true
    const t = this.#o.now()
    if (t - this.#lastWarn < this.#warnEveryMs) return
    this.#lastWarn = t
    this.#warned = true
    this.#o.log.warn({ err, what, faults: this.#faults }, 'bans: shared state unavailable; enforcing the bans this worker knows, and banning on its own counts')
  }

  async close (): Promise<void> {
    this.#closed = true
    clearInterval(this.#timer)
    const off = this.#unsubscribe
    this.#unsubscribe = null
    if (off !== null) await off().catch(() => {})
  }
}
