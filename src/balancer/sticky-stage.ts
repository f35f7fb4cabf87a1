// Sticky sessions on the data path: the stage that routes a request by its session (in place of the balance stage),
// the retry strategy that moves a session deterministically, and the response hook that records, learns and issues.
import type { StickyConfig } from '../config/index.ts'
import { DONE, NEXT, type Exchange, type Stage, type StickySession, type Verdict } from '../pipeline/index.ts'
import { SessionTable, UNAVAILABLE, UNKNOWN, type Entry, type Miss, type SessionTableOptions } from './sticky.ts'
import type { Strategy, Target } from './strategy.ts'
import { balance } from './balance-stage.ts'

/** StickySession.flags: the mapping is written again on response (TTL renewal, or a write that failed while state was down). */
export const RENEW = 1
/** StickySession.flags: routed by the hash fallback while state was unavailable; the response records nothing. */
export const FALLBACK = 2

/** Ids Switchyard issues: 16 random bytes in base64url. Anything else in the cookie is treated as no session. */
const ISSUED_ID = /^[A-Za-z0-9_-]{22}$/
/** Learned values are the backend's; only their length is bounded (they become state keys). */
const MAX_LEARNED = 256
/** `Max-Age=0` (or negative) in a Set-Cookie deletes the cookie (RFC 6265 §5.2.2): nothing to learn. */
const DELETES = /;\s*max-age\s*=\s*(-\d*|0+)\s*(;|$)/i

export interface StickyOptions extends Omit<SessionTableOptions, 'ttlMs'> {
  readonly config: StickyConfig
  /** The upstream's own strategy: requests without a session, and (learn mode) sessions the map does not know. */
  readonly strategy: Strategy
}

export interface Sticky {
  /** Replaces the balance stage in the routes of this upstream. */
  readonly stage: Stage
  /** For the upstream stage's retries: a request with a session moves along the ring of its id, like every worker. */
  readonly strategy: Strategy
  readonly table: SessionTable
  /**
   * For the upstream stage, when a request of a session gives up on a server it could not connect to (a POST, or no
   * retry left): the session moves along the ring now, so its next request does not fail there again.
   */
  unreachable (ex: Exchange, target: Target): void
  /** Wraps the plain response-header filter with this upstream's recording (and, in cookie mode, its Set-Cookie). */
  filter<H extends { readonly headers: Array<string | Uint8Array> }> (base: (raw: readonly Buffer[], requestId: string) => H): (raw: readonly Buffer[], requestId: string, ex: Exchange) => H
  close (): Promise<void>
}

/** What the stage, the retry strategy and the response hook of one sticky upstream share. */
interface StickyContext {
  readonly table: SessionTable
  /** The upstream's own strategy. */
  readonly inner: Strategy
  /** `cookie` mode (Switchyard issues the cookie), else `learn` mode (the application's cookie). */
  readonly cookieMode: boolean
  /** The cookie's name. */
  readonly name: string
  /** What follows `NAME=id` in an issued Set-Cookie (Path, Max-Age, flags). */
  readonly suffix: string
}

export function createSticky (o: StickyOptions): Sticky {
  const c = o.config
  const table = new SessionTable({ ...o, ttlMs: c.ttl })
  const ctx: StickyContext = {
    table,
    inner: o.strategy,
    cookieMode: c.mode === 'cookie',
    name: c.name,
    suffix: `; Path=${c.path}; Max-Age=${Math.ceil(c.ttl / 1000)}${c.httpOnly ? '; HttpOnly' : ''}; SameSite=${SAME_SITE[c.sameSite]}${c.secure ? '; Secure' : ''}`
  }
  return {
    stage: stickyStage(ctx),
    strategy: {
      name: `sticky+${ctx.inner.name}`,
      pick (pc, exclude) {
        const s = pc.sticky
        return s === undefined || s === null ? ctx.inner.pick(pc, exclude) : table.pickFor(s.id, exclude)
      }
    },
    table,
    unreachable (ex, target) {
      const id = ex.sticky?.id
      if (id === undefined) return
      const exclude = new Set(ex.tried)
      exclude.add(target)
      const next = table.pickFor(id, exclude)
      // Not confirmed by an answer yet; the next request's response confirms it or moves the session again.
      if (next !== undefined) table.remember(id, next.url, true)
    },
    filter: (base) => ctx.cookieMode ? cookieFilter(ctx, base) : learnFilter(ctx, base),
    close: async () => { await table.close() }
  }
}

/** The stage: a request with a valid session cookie goes to its server; anything else is balanced. */
function stickyStage (ctx: StickyContext): Stage {
  const { table, inner, cookieMode, name } = ctx
  const route = (ex: Exchange, session: StickySession, r: Entry | Miss): Verdict => {
    const id = session.id
    if (ex.aborted) return DONE
    let t: Target | undefined
    let flags = 0
    if (r === UNAVAILABLE) {
      flags = FALLBACK
      t = table.pickFor(id)
    } else if (r === UNKNOWN) {
      // An issued id the map lost (expired, or written while state was down) was minted to hash to its server.
      // A learned one has no such link: balance normally, and the response records who answered.
      if (!cookieMode) return balance(ex, inner)
      t = table.pickFor(id)
    } else {
      session.url = r.url
      if (r.fresh) { r.fresh = false; flags = RENEW } else if (r.dirty && !table.degraded) flags = RENEW
      const mapped = table.target(r.url)
      // Unhealthy or no longer configured: the session moves where the ring sends it; the response records the move.
      t = mapped !== undefined && mapped.healthy ? mapped : table.pickFor(id)
    }
    if (t === undefined) return ex.reject('SWY_NO_HEALTHY_UPSTREAM')
    ex.target = t
    session.flags = flags
    return NEXT
  }
  return {
    name: 'sticky',
    run (ex) {
      const id = ex.cookie(name)
      if (id === undefined || !(cookieMode ? ISSUED_ID.test(id) : id !== '' && id.length <= MAX_LEARNED)) return balance(ex, inner)
      const session: StickySession = { id, url: null, flags: 0 }
      ex.sticky = session
      const r = table.resolve(id)
      if (r instanceof Promise) return r.then((x) => route(ex, session, x))
      return route(ex, session, r)
    }
  }
}

/** What the response does for the session it carried: record a move or a new mapping, renew, or nothing. */
function settle (table: SessionTable, ex: Exchange, url: string): boolean {
  const s = ex.sticky
  if (s === null || (s.flags & FALLBACK) !== 0) return false
  const id = s.id
  if (s.url !== url) {
    // Concurrent requests of one session: the first response recorded it (or its announcement arrived).
    if (table.holds(id, url)) return false
    // Whichever server answered is the session's server now (HAProxy's `option redispatch`); a change is announced.
    table.remember(id, url, s.url !== null)
    return true
  }
  if ((s.flags & RENEW) !== 0) {
    table.remember(id, url, false)
    return true
  }
  return false
}

type Filter<H> = (raw: readonly Buffer[], requestId: string, ex: Exchange) => H

/** Cookie mode: issues the cookie to a request without a session, and re-sends it whenever the mapping is written. */
function cookieFilter<H extends { readonly headers: Array<string | Uint8Array> }> (ctx: StickyContext, base: (raw: readonly Buffer[], requestId: string) => H): Filter<H> {
  const { table, name, suffix } = ctx
  return (raw, requestId, ex) => {
    const head = base(raw, requestId)
    const t = ex.target!
    if (ex.sticky === null) {
      const id = table.mint(t)
      // Not stored yet: the id hashes to t, where a follow-up without a mapping goes, and that follow-up stores
      // it. So a client that never returns the cookie (no cookie jar: bots, probes) costs no state write.
      if (table.pickFor(id) !== t) table.remember(id, t.url, false)
      head.headers.push('set-cookie', `${name}=${id}${suffix}`)
    } else if (settle(table, ex, t.url)) {
      // Re-sent whenever the mapping is written, so the cookie's Max-Age slides with the map's TTL.
      head.headers.push('set-cookie', `${name}=${ex.sticky.id}${suffix}`)
    }
    return head
  }
}

/** Learn mode: the backend's Set-Cookie maps its session to the server that answered. */
function learnFilter<H> (ctx: StickyContext, base: (raw: readonly Buffer[], requestId: string) => H): Filter<H> {
  const { table, name } = ctx
  return (raw, requestId, ex) => {
    const head = base(raw, requestId)
    const url = ex.target!.url
    const learned = setCookieValue(raw, name)
    if (learned !== undefined && learned !== ex.sticky?.id && learned.length <= MAX_LEARNED) {
      const known = table.peek(learned)
      if (known === undefined || known.url !== url || known.dirty) table.remember(learned, url, known !== undefined && known.url !== url)
    }
    settle(table, ex, url)
    return head
  }
}

const SAME_SITE = { lax: 'Lax', strict: 'Strict', none: 'None' } as const

/**
 * The value the response's Set-Cookie lines give cookie `name` (the last one wins, as in a browser), or undefined
 * when none does or it is deleted (empty value, Max-Age ≤ 0). Only raw Set-Cookie lines are decoded.
 */
export function setCookieValue (raw: readonly Buffer[], name: string): string | undefined {
  let out: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const nb = raw[i]!
    if (nb.length !== 10 || nb.toString('latin1').toLowerCase() !== 'set-cookie') continue
    const v = raw[i + 1]!.toString('latin1')
    let at = 0
    while (v.charCodeAt(at) === 32 || v.charCodeAt(at) === 9) at++
    if (!v.startsWith(name, at) || v.charCodeAt(at + name.length) !== 61) continue // '='
    let end = v.indexOf(';', at)
    if (end < 0) end = v.length
    const value = v.slice(at + name.length + 1, end).trim()
    out = value === '' || DELETES.test(v) ? undefined : value
  }
  return out
}
