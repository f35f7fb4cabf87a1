// The downstream the cache stage puts in front of the client on a miss or a revalidation: everything goes on to the
// client as it arrives, and a storable body is copied aside (up to max_object) and stored when it ends. A 304 to our
// own revalidation, or a failure while a stale entry may stand in (stale-if-error), is answered from the entry.
import { Buffer } from 'node:buffer'
import type { Logger } from 'pino'
import type { Downstream, Exchange } from '../pipeline/index.ts'
import type { StagePolicy, StorabilityOptions } from './stage-policy.ts'
import type { CacheEntry, CacheStore, HeaderLookup, RequestPolicy } from './types.ts'
import { HIT, STALE, type EntryServer } from './serve.ts'
import { sameOrigin } from './origin.ts'

/** What the tee does with the response. */
export const MODE_STORE = 0 // store it if the rules allow
export const MODE_PASS = 1 // pass it on, never store (X-Cache says why)

export interface TeeShared {
  readonly store: CacheStore
  readonly policy: StagePolicy
  /** Answers from entries (a refreshed or stale one, after the backend failed or said 304). */
  readonly server: EntryServer
  readonly maxObject: number
  readonly options: StorabilityOptions
  readonly now: () => number
  readonly log: Logger
  /** The key of a variant: the primary key plus the values of the request headers `vary` names. */
  readonly variantKey: (primary: string, vary: readonly string[], header: HeaderLookup) => string
  /** The fill holding the lock on `key` will not be stored: its next misses should not wait (hit-for-miss). */
  readonly uncacheable: (key: string) => void
  /** A response for `key` is being stored: its misses coalesce again. */
  readonly cacheable: (key: string) => void
}

export interface TeeInit {
  readonly mode: number
  /** X-Cache value added to the passed-on response: MISS or BYPASS. */
  readonly xcache: string
  /** The lock's key (the variant key as known before the response; the entry goes where its own Vary says). */
  readonly key: string
  readonly primary: string
  readonly url: string
  readonly req: RequestPolicy
  readonly header: HeaderLookup
  /** This tee's fill holds the cluster-wide lock on `key`: released once stored (or given up). */
  readonly locked: boolean
  /** The stale entry being revalidated, if any: a 304 refreshes it, a failure may serve it. */
  readonly stale: CacheEntry | undefined
  /** Request flags for answering from the entry (conditionals, Range). */
  readonly flags: number
  readonly requestTime: number
  /** Run once when the tee is done (stored, given up, or released). */
  readonly onSettled?: () => void
}

export class CacheTee implements Downstream {
  /** The backend's Date (the response filter drops it from what the client gets); set by the cache route's filter. */
  date: string | undefined = undefined
  readonly #real: Downstream
  readonly #ex: Exchange
  readonly #s: TeeShared
  readonly #i: TeeInit
  #chunks: Buffer[] | null = null
  #size = 0
  #status = 0
  #headers: string[] | null = null
  #responseTime = 0
  #ttlMs = 0
  /** The response is answered from the entry; nothing of it goes to the client. */
  #swallow = false
  #refreshed: CacheEntry | null = null
  #settled = false
  /** A HEAD fetched as GET and being stored: the client's head, sent at the end (see start). */
  #heldHead: Array<string | Uint8Array> | null = null

  constructor (ex: Exchange, real: Downstream, shared: TeeShared, init: TeeInit) {
    this.#ex = ex
    this.#real = real
    this.#s = shared
    this.#i = init
  }

  get onDrain (): (() => void) | null { return this.#real.onDrain }
  set onDrain (f: (() => void) | null) { this.#real.onDrain = f }

  /** The client went away: stop storing and let the waiters fetch for themselves. */
  abandon (): void {
    if (this.#swallow) return // a refresh from 304 is stored whatever the client does
    this.#chunks = null
    this.#settle()
  }

  start (status: number, headers: readonly (string | Uint8Array)[], length: number): void {
    const i = this.#i
    const s = this.#s
    const now = s.now()
    this.#status = status
    this.#responseTime = now
    const stale = i.stale
    if (stale !== undefined) {
      if (status === 304) {
        this.#swallow = true
        const refreshed = s.policy.refresh304(stale, decode(headers, this.date), i.requestTime, now)
        this.#refreshed = refreshed
        s.server.serve(this.#ex, this.#real, refreshed, HIT, i.flags, now)
        return
      }
      if (status >= 500 && s.policy.servableOnError(stale, now)) {
        this.#swallow = true
        s.server.serve(this.#ex, this.#real, stale, STALE, i.flags, now)
        return
      }
    }
    const out = headers as Array<string | Uint8Array>
    if (i.mode === MODE_STORE && (length < 0 || length <= s.maxObject)) {
      const h = decode(headers, this.date)
      const verdict = s.policy.storability(this.#ex.forwardMethod, status, h, i.req, now, s.options)
      if (verdict.store) {
        this.#headers = h
        this.#ttlMs = verdict.ttlMs
        this.#chunks = []
      }
    }
    out.push('x-cache', i.xcache)
    this.#ex.cacheStatus = i.xcache
    // Not after a 5xx: a failing backend says nothing about the URL, and coalescing is what protects it when it is back.
    if (i.locked && i.mode === MODE_STORE && this.#chunks === null && status < 500) s.uncacheable(i.key)
    const ex = this.#ex
    if (ex.method !== ex.forwardMethod && this.#chunks !== null) {
      // A HEAD fetched as GET (convert_head) that is being stored: its head goes out when the body has arrived, with
      // the length a GET for the entry will get.
      this.#heldHead = out
      return
    }
    this.#real.start(status, out, length)
    if (ex.method !== ex.forwardMethod) this.#answerHeadOnly()
  }

  /**
   * A HEAD fetched as GET whose body will not be stored: the client has all it asked for, so it is answered now and
   * the download stops (the upstream stage takes a cancel as the end of its request, not as a failure).
   */
  #answerHeadOnly (): void {
    const ex = this.#ex
    const cancel = ex.onAbort
    ex.onAbort = null
    this.#swallow = true
    this.#real.end()
    this.#settle()
    if (cancel !== null) cancel()
  }

  write (chunk: Uint8Array): boolean {
    if (this.#swallow) return true
    const c = this.#chunks
    if (c !== null) {
      this.#size += chunk.length
      // Over max_object (a chunked body grew too big): keep streaming, stop copying, store nothing.
      if (this.#size > this.#s.maxObject) {
        this.#chunks = null
        if (this.#i.locked) this.#s.uncacheable(this.#i.key)
        const held = this.#heldHead
        if (held !== null) {
          this.#heldHead = null
          this.#real.start(this.#status, held, -1)
          this.#answerHeadOnly()
          return true
        }
      } else {
        c.push(Buffer.from(chunk)) // copied: the chunk may be a view on a buffer the socket reuses
      }
    }
    if (this.#heldHead !== null) return true // a HEAD's client gets no body
    return this.#real.write(chunk)
  }

  end (): void {
    if (this.#swallow) {
      const r = this.#refreshed
      if (r !== null) void this.#put(r, this.#s.policy.ttlOf(r, this.#s.now()))
      else this.#settle()
      return
    }
    const held = this.#heldHead
    if (held !== null) {
      this.#heldHead = null
      this.#real.start(this.#status, held, this.#size)
    }
    this.#real.end()
    const c = this.#chunks
    this.#chunks = null
    if (c === null || this.#headers === null || this.#ex.aborted) { this.#settle(); return }
    const i = this.#i
    let entry: CacheEntry
    try {
      entry = this.#s.policy.buildEntry({
        status: this.#status,
        headers: this.#headers,
        body: c.length === 1 ? c[0]! : Buffer.concat(c, this.#size),
        requestTime: i.requestTime,
        responseTime: this.#responseTime,
        url: i.url,
        req: i.req,
        requestHeader: i.header
      }, this.#s.options)
    } catch (err) {
      this.#s.log.error({ err, key: i.key }, 'cache: cannot build an entry; not stored')
      this.#settle()
      return
    }
    this.#s.cacheable(i.key)
    void this.#put(entry, this.#ttlMs)
  }

  abort (): void {
    this.#chunks = null
    if (!this.#swallow) this.#real.abort()
    this.#settle()
  }

  reply (status: number, headers: readonly string[], body: string, close: boolean): void {
    const stale = this.#i.stale
    const now = this.#s.now()
    // The backend could not be reached (502/503/504 of our own): stale-if-error lets the entry stand in.
    if (stale !== undefined && status >= 500 && this.#s.policy.servableOnError(stale, now)) {
      this.#s.server.serve(this.#ex, this.#real, stale, STALE, this.#i.flags, now)
    } else {
      this.#real.reply(status, headers, body, close)
    }
    this.#settle()
  }

  async #put (entry: CacheEntry, ttlMs: number): Promise<void> {
    const i = this.#i
    try {
      let key = i.primary
      if (entry.vary.length > 0) {
        await this.#s.store.setVary(i.primary, entry.vary, ttlMs)
        key = this.#s.variantKey(i.primary, entry.vary, i.header)
      }
      await this.#s.store.put(key, entry, ttlMs)
    } catch (err) {
      // The store never rejects on a state fault; anything here is a bug, and the request is already answered.
      this.#s.log.error({ err, key: i.key }, 'cache: storing failed')
    }
    this.#settle()
  }

  #settle (): void {
    if (this.#settled) return
    this.#settled = true
    const i = this.#i
    if (i.locked) {
      this.#s.store.release(i.key).catch((err: unknown) => { this.#s.log.error({ err, key: i.key }, 'cache: release failed') })
    }
    i.onSettled?.()
  }
}

/** Response headers as strings, names lower-case; what the policy reads and the entry stores. */
export function decode (headers: readonly (string | Uint8Array)[], date: string | undefined): string[] {
  const out: string[] = []
  if (date !== undefined) out.push('date', date)
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!
    const v = headers[i + 1]!
    const name = typeof n === 'string' ? n : Buffer.from(n.buffer, n.byteOffset, n.byteLength).toString('latin1').toLowerCase()
    // Per request, never stored: ours (x-request-id is added again on every answer) and x-cache.
    if (name === 'x-request-id' || name === 'x-cache') continue
    out.push(name, typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1'))
  }
  return out
}

/** The client side of a background refresh: nobody listens; it only ends the exchange. */
export class SinkDownstream implements Downstream {
  onDrain: (() => void) | null = null
  ex: Exchange | null = null
  start (): void {}
  write (): boolean { return true }
  end (): void { this.ex?.completed() }
  abort (): void { this.ex?.clientAborted() }
  reply (): void { this.ex?.completed() }
}

/**
 * In front of the client for an unsafe request (POST, PUT, DELETE, PATCH …) on a cached route: passes everything on,
 * and a non-error answer invalidates the URL's entries cluster-wide (RFC 9111 §4.4).
 */
export class InvalidatingDownstream implements Downstream {
  readonly #real: Downstream
  readonly #store: CacheStore
  readonly #url: string
  readonly #tls: boolean
  readonly #log: Logger

  /** `url`: the request's `host/path?query` (host lower-case); `tls`: it came over HTTPS (the origin's scheme). */
  constructor (real: Downstream, store: CacheStore, url: string, tls: boolean, log: Logger) {
    this.#real = real
    this.#store = store
    this.#url = url
    this.#tls = tls
    this.#log = log
  }

  get onDrain (): (() => void) | null { return this.#real.onDrain }
  set onDrain (f: (() => void) | null) { this.#real.onDrain = f }

  start (status: number, headers: readonly (string | Uint8Array)[], length: number): void {
    if (status < 400) {
      const urls = new Set([this.#url])
      // The Location and Content-Location targets too, when of the same origin (RFC 9111 §4.4): a POST that creates
      // or changes /items/7 and says so leaves no stale copy of it.
      for (const target of relatedTargets(headers)) {
        const u = sameOrigin(target, this.#url, this.#tls)
        if (u !== undefined) urls.add(u)
      }
      for (const url of urls) {
        this.#store.purge({ url }).catch((err: unknown) => { this.#log.error({ err, url }, 'cache: invalidation failed') })
      }
    }
    this.#real.start(status, headers, length)
  }

  write (chunk: Uint8Array): boolean { return this.#real.write(chunk) }
  end (): void { this.#real.end() }
  abort (): void { this.#real.abort() }
  reply (status: number, headers: readonly string[], body: string, close: boolean): void { this.#real.reply(status, headers, body, close) }
}

/** The Location and Content-Location values of a response head. */
function relatedTargets (headers: readonly (string | Uint8Array)[]): string[] {
  const out: string[] = []
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!
    // Only names of those two lengths are decoded.
    if (n.length !== 8 && n.length !== 16) continue
    const name = typeof n === 'string' ? n : Buffer.from(n.buffer, n.byteOffset, n.byteLength).toString('latin1').toLowerCase()
    if (name !== 'location' && name !== 'content-location') continue
    const v = headers[i + 1]!
    out.push(typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1'))
  }
  return out
}

/**
 * The response filter of a cached route: the backend's Date goes to the cache's tee (the client gets the engine's own
 * Date, but the entry's age is computed from the backend's, RFC 9111 §4.2.3). Other routes keep the plain filter.
 */
export function keepBackendDate<E extends { readonly downstream: unknown }, H> (base: (raw: readonly Buffer[], requestId: string, ex: E) => H): (raw: readonly Buffer[], requestId: string, ex: E) => H {
  return (raw, requestId, ex) => {
    const d = ex.downstream
    if (d instanceof CacheTee) {
      for (let i = 0; i < raw.length; i += 2) {
        const n = raw[i]!
        if (n.length === 4 && n.toString('latin1').toLowerCase() === 'date') { d.date = raw[i + 1]!.toString('latin1'); break }
      }
    }
    return base(raw, requestId, ex)
  }
}
