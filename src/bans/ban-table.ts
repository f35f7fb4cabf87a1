// The worker's copy of the cluster's active bans: one map per key kind (ip, header:NAME, cookie:NAME), so the ban
// check looks a request's value up directly, with no string built per request. Filled from shared state and pub/sub.

/** What a banned client gets: a 403 SWY_BANNED answer, or its connection closed without one. */
export type BanAction = 403 | 'close'

/** One ban as held here. `close` is set if any live ban of this client asked for it. */
export class BanEntry {
  expiresAtMs: number
  close: boolean
  constructor (expiresAtMs: number, close: boolean) {
    this.expiresAtMs = expiresAtMs
    this.close = close
  }
}

/**
 * A ban's name in shared state and on the channel: `ACTION KIND VALUE`, e.g. `403 ip 10.0.0.7`,
 * `close header:x-user alice`. Action and kind contain no space, so everything after the second space is the value.
 */
export function formatBan (action: BanAction, kind: string, value: string): string {
  return `${action === 'close' ? 'close' : '403'} ${kind} ${value}`
}

export function parseBan (member: string): { action: BanAction, kind: string, value: string } | undefined {
  const a = member.indexOf(' ')
  const b = a < 0 ? -1 : member.indexOf(' ', a + 1)
  if (b < 0) return undefined
  const action = member.slice(0, a)
  if (action !== '403' && action !== 'close') return undefined
  return { action: action === 'close' ? 'close' : 403, kind: member.slice(a + 1, b), value: member.slice(b + 1) }
}

export interface BanTableOptions {
  /** Wall clock (ms): ban expiries come from other hosts' wall clocks. */
  readonly now: () => number
  /** Most bans held; beyond it the oldest-added ban of the same kind is dropped. Default 100 000. */
  readonly maxBans?: number
}

export class BanTable {
  readonly #now: () => number
  readonly #max: number
  readonly #kinds = new Map<string, Map<string, BanEntry>>()
  #size = 0

  constructor (o: BanTableOptions) {
    this.#now = o.now
    this.#max = o.maxBans ?? 100_000
  }

  /** Bans held, expired ones included until swept or looked up. */
  get size (): number { return this.#size }

  /** The map of one kind (made empty if new); the ban check keeps it from build time. */
  kind (kind: string): Map<string, BanEntry> {
    let m = this.#kinds.get(kind)
    if (m === undefined) {
      m = new Map()
      this.#kinds.set(kind, m)
    }
    return m
  }

  /** Adds or extends a ban from its member name; false when the name is malformed or the ban already expired. */
  add (member: string, expiresAtMs: number): boolean {
    const b = parseBan(member)
    if (b === undefined || !(expiresAtMs > this.#now())) return false
    const m = this.kind(b.kind)
    const e = m.get(b.value)
    if (e === undefined) {
      if (this.#size >= this.#max) this.#evict(m)
      m.set(b.value, new BanEntry(expiresAtMs, b.action === 'close'))
      this.#size++
      return true
    }
    if (e.expiresAtMs <= this.#now()) {
      e.expiresAtMs = expiresAtMs
      e.close = b.action === 'close'
      return true
    }
    if (b.action === 'close') e.close = true
    if (expiresAtMs > e.expiresAtMs) e.expiresAtMs = expiresAtMs
    return true
  }

  /** Ms left on the ban of `value` in `m` (a map from kind()), or 0 when there is none; drops it once expired. */
  remainingMs (m: Map<string, BanEntry>, value: string): number {
    const e = m.get(value)
    if (e === undefined) return 0
    const left = e.expiresAtMs - this.#now()
    if (left > 0) return left
    m.delete(value)
    this.#size--
    return 0
  }

  /** The live ban of a member name, for tests and logs. */
  get (member: string): BanEntry | undefined {
    const b = parseBan(member)
    if (b === undefined) return undefined
    const m = this.#kinds.get(b.kind)
    return m !== undefined && this.remainingMs(m, b.value) > 0 ? m.get(b.value) : undefined
  }

  /** Drops expired bans; returns how many. */
  sweep (): number {
    const now = this.#now()
    let n = 0
    for (const m of this.#kinds.values()) {
      for (const [v, e] of m) {
        if (e.expiresAtMs <= now) { m.delete(v); n++ }
      }
    }
    this.#size -= n
    return n
  }

  #evict (m: Map<string, BanEntry>): void {
    // Expired bans go first; if none, the oldest-added of the kind being added (insertion order).
    if (this.sweep() > 0) return
    const victim = m.size > 0 ? m : [...this.#kinds.values()].find((k) => k.size > 0)
    if (victim === undefined) return
    for (const k of victim.keys()) {
      victim.delete(k)
      this.#size--
      return
    }
  }
}
