// The cache stage (RFC 9111, shared cache): a fresh entry in worker memory answers synchronously; otherwise the
// shared level is read, concurrent misses are coalesced cluster-wide behind one fetch, stale entries are
// revalidated (or served while refreshed in the background), and what the backend sends streams through a tee
// that stores it.
import type { Logger } from 'pino'
import type { RouteCacheConfig } from '../config/index.ts'
import { DONE, NEXT, runAfter, type Exchange, type LocalReplies, type Stage, type Verdict } from '../pipeline/index.ts'
import { ERROR_CODES } from '../errors/index.ts'
import type { StagePolicy } from './stage-policy.ts'
import type { CacheEntry, CacheStore, HeaderLookup, RequestPolicy } from './types.ts'
import { EntryServer, lookupOf, HIT, STALE, F_POLICY, F_RANGE, F_IF_RANGE, F_CONDITIONAL, F_PRECONDITION } from './serve.ts'
import { CacheTee, SinkDownstream, InvalidatingDownstream, MODE_PASS, MODE_STORE, type TeeShared } from './tee.ts'

export interface CacheStageOptions {
  /** The route's id (`host/path` prefix); part of every key, so two routes never share entries. */
  readonly routeId: string
  readonly config: RouteCacheConfig
  readonly store: CacheStore
  readonly policy: StagePolicy
  /** Wall clock, ms (entries are compared across hosts). */
  readonly now: () => number
  readonly log: Logger
}

/** Request fields that are about the client's copy, never sent with our own fill or revalidation. */
const CONDITIONAL_FIELDS: ReadonlySet<string> = new Set(['if-none-match', 'if-modified-since', 'if-range', 'range', 'if-match', 'if-unmodified-since'])

/** Request headers about the client's own copy. */
const CLIENT_COPY = F_RANGE | F_CONDITIONAL | F_PRECONDITION | F_IF_RANGE

/** Most keys a stage remembers as uncacheable (hit_for_miss); the oldest is forgotten first. */
const HIT_FOR_MISS_KEYS = 10_000

/** How often a coalesced request tries for the lock again after its holder died. */
const LOCK_ATTEMPTS = 3

/** One pass over the request headers: which ones matter to the cache. */
function scan (h: readonly string[]): number {
  let f = 0
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i]!
    // Only names of the lengths we look for are compared.
    switch (n.length) {
      case 5: if (n === 'range') f |= F_RANGE; break
      case 6: if (n === 'pragma') f |= F_POLICY; break
      case 8: if (n === 'if-range') f |= F_IF_RANGE; else if (n === 'if-match') f |= F_PRECONDITION; break
      case 13: if (n === 'cache-control' || n === 'authorization' || n === 'if-none-match') f |= n === 'if-none-match' ? F_CONDITIONAL : F_POLICY; break
      case 17: if (n === 'if-modified-since') f |= F_CONDITIONAL; break
      case 19: if (n === 'if-unmodified-since') f |= F_PRECONDITION; break
    }
  }
  return f
}

export function createCacheStage (o: CacheStageOptions): Stage {
  return new CacheStage(o)
}

/** A request past the memory level: what it allows, how to read its headers, and the keys it is looked up under. */
interface Miss {
  readonly req: RequestPolicy
  readonly header: HeaderLookup
  readonly flags: number
  readonly primary: string
  readonly requestTime: number
}

const noLookup: HeaderLookup = () => undefined

class CacheStage implements Stage {
  readonly name = 'cache'
  readonly #store: CacheStore
  readonly #policy: StagePolicy
  readonly #now: () => number
  readonly #routeId: string
  readonly #lockTimeout: number
  readonly #convertHead: boolean
  readonly #hitForMiss: number
  readonly #server: EntryServer
  readonly #shared: TeeShared
  readonly #plainGet: RequestPolicy
  /** Keys whose last fill was not storable, and until when their misses skip the lock (insertion order = age). */
  readonly #uncoalesced = new Map<string, number>()
  /** Keys this worker refreshes in the background now, and since when (one refresh per key per worker). */
  readonly #refreshing = new Map<string, number>()
  readonly #bgReplies: LocalReplies

  constructor (o: CacheStageOptions) {
    const { store, policy, now, log } = o
    this.#store = store
    this.#policy = policy
    this.#now = now
    this.#routeId = o.routeId
    this.#lockTimeout = o.config.lock_timeout
    this.#convertHead = o.config.convert_head
    this.#hitForMiss = o.config.hit_for_miss
    this.#server = new EntryServer(policy)
    this.#shared = {
      store,
      policy,
      server: this.#server,
      maxObject: o.config.max_object,
      options: { storeSetCookie: o.config.store_set_cookie, heuristic: o.config.heuristic },
      now,
      log,
      variantKey: (primary, names, header) => this.#variantKey(primary, names, header),
      uncacheable: (key) => { this.#uncacheable(key) },
      cacheable: (key) => { this.#uncoalesced.delete(key) }
    }
    this.#plainGet = policy.request('GET', noLookup)
    this.#bgReplies = {
      reply (ex, code) {
        ex.status = ERROR_CODES[code].status
        ex.downstream.reply(ex.status, [], code, false)
      },
      fault (ex, err) { log.warn({ reqId: ex.requestId, err }, 'cache: background refresh failed') }
    }
  }

  run (ex: Exchange): Verdict | Promise<Verdict> {
    const m = ex.method
    if (m !== 'GET' && m !== 'HEAD') {
      // Unsafe methods invalidate the URL once the backend accepted them (RFC 9111 §4.4); OPTIONS and TRACE are safe.
      if (m !== 'OPTIONS' && m !== 'TRACE') ex.downstream = new InvalidatingDownstream(ex.downstream, this.#store, urlOf(ex), ex.tls, this.#shared.log)
      return NEXT
    }
    const flags = scan(ex.headers)
    const req = (flags & F_POLICY) === 0 ? this.#plainGet : this.#policy.request(m, lookupOf(ex))
    const primary = `${this.#routeId}|${ex.host.toLowerCase()}|${ex.path}${ex.query === '' ? '' : '?'}${ex.query}`
    if (req.noStore || (flags & F_PRECONDITION) !== 0) {
      // no-store, or If-Match / If-Unmodified-Since (only the origin can judge those): not consulted, not stored.
      const bypass: Miss = { req, header: noLookup, flags: 0, primary, requestTime: 0 }
      return this.#forward(ex, bypass, MODE_PASS, 'BYPASS', primary, false, undefined)
    }
    if (!req.noCache) {
      // A response without Vary is stored under the primary key itself, so one lookup finds it; only a miss there
      // asks whether the resource varies (a second lookup per hit was a tenth of the hit path's JS time).
      const store = this.#store
      let e = store.getLocal(primary)
      if (e === undefined) {
        const vary = store.getVaryLocal(primary)
        if (vary !== undefined && vary.length > 0) e = store.getLocal(this.#variantKey(primary, vary, lookupOf(ex)))
      }
      if (e !== undefined) {
        const t = this.#now()
        if (this.#policy.usability(e, req, t) === 'fresh') {
          this.#server.serve(ex, ex.downstream, e, HIT, flags, t)
          return DONE
        }
      }
    }
    return this.#slow(ex, { req, header: lookupOf(ex), flags, primary, requestTime: this.#now() })
  }

  #variantKey (primary: string, names: readonly string[], header: HeaderLookup): string {
    return `${primary}\n${this.#policy.secondaryKey(names, header)}`
  }

  /** The key `m` is stored under, given the Vary names recorded for its primary key. */
  async #keyOf (m: Miss): Promise<string> {
    const vary = this.#store.getVaryLocal(m.primary) ?? await this.#store.getVary(m.primary)
    return vary === undefined || vary.length === 0 ? m.primary : this.#variantKey(m.primary, vary, m.header)
  }

  /** Everything past a memory miss: the shared level, then coalescing (#fill). */
  async #slow (ex: Exchange, m: Miss): Promise<Verdict> {
    const store = this.#store
    const policy = this.#policy
    const key = await this.#keyOf(m)
    let entry = await store.get(key)
    // A memory copy that is no longer fresh may hide a fresher entry another worker or host has stored since.
    if (entry !== undefined && store.getLocal(key) === entry && policy.usability(entry, m.req, this.#now()) !== 'fresh') {
      entry = (await store.getShared(key)) ?? entry
    }
    if (ex.aborted) return DONE
    if (entry !== undefined) {
      const u = policy.usability(entry, m.req, this.#now())
      if (u === 'fresh') { this.#server.serve(ex, ex.downstream, entry, HIT, m.flags, this.#now()); return DONE }
      if (u === 'stale-while-revalidate' && !m.req.onlyIfCached) {
        this.#server.serve(ex, ex.downstream, entry, STALE, m.flags, this.#now())
        this.#refreshInBackground(ex, m, key, entry)
        return DONE
      }
    }
    if (m.req.onlyIfCached) return ex.reject('SWY_NOT_CACHED')
    // A HEAD not fetched as GET (no body to store), or a request about the client's own copy (Range, conditionals)
    // that found no entry: forwarded as sent, not coalesced; a full 200 to a GET may still be stored, a 206 or 304 never is.
    const headAsSent = ex.method === 'HEAD' && !this.#convertHead
    if (entry === undefined && (headAsSent || (m.flags & CLIENT_COPY) !== 0)) {
      return this.#forward(ex, m, headAsSent ? MODE_PASS : MODE_STORE, 'MISS', key, false, undefined)
    }
    // Its last fill was not storable: nobody waits for this one either (what it brings is still stored if it may be).
    if (this.#skipsLock(key, m.requestTime)) return this.#forward(ex, m, MODE_STORE, 'MISS', key, false, entry)
    return await this.#fill(ex, m, key, entry)
  }

  /** Coalescing: become the one fetcher of `key` cluster-wide, or wait for whoever is and serve what they stored. */
  async #fill (ex: Exchange, m: Miss, key: string, entry: CacheEntry | undefined): Promise<Verdict> {
    const store = this.#store
    for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
      const l = await store.lock(key, this.#lockTimeout)
      if (ex.aborted) { if (l === 'acquired') void store.release(key); return DONE }
      if (l === 'unavailable') return this.#forward(ex, m, MODE_STORE, 'MISS', key, false, entry)
      if (l === 'acquired') {
        // Double-checked: a fill may have landed between our read and the lock.
        if (entry === undefined) {
          const again = await store.get(key)
          if (again !== undefined && this.#policy.usability(again, m.req, this.#now()) === 'fresh') {
            void store.release(key)
            if (ex.aborted) return DONE
            this.#server.serve(ex, ex.downstream, again, HIT, m.flags, this.#now())
            return DONE
          }
        }
        if (ex.aborted) { void store.release(key); return DONE }
        return this.#forward(ex, m, MODE_STORE, 'MISS', key, true, entry)
      }
      // Held: someone in the cluster is fetching this key. Wait for the fill, then serve it.
      const w = await store.waitFill(key, this.#lockTimeout)
      if (ex.aborted) return DONE
      const filledKey = await this.#keyOf(m)
      const filled = await store.get(filledKey)
      if (ex.aborted) return DONE
      const u = filled === undefined ? 'revalidate' : this.#policy.usability(filled, m.req, this.#now())
      if (u !== 'revalidate') {
        this.#server.serve(ex, ex.downstream, filled!, u === 'fresh' ? HIT : STALE, m.flags, this.#now())
        return DONE
      }
      // The holder died (its lock expired): try to become the fetcher. Otherwise its response was not storable,
      // or it took longer than lock_timeout: fetch ourselves.
      if (w !== 'expired') break
      key = filledKey
      entry = filled
    }
    return this.#forward(ex, m, MODE_STORE, 'MISS', key, false, entry)
  }

  /** Puts a tee in front of the client and lets the request go on to the backend. */
  #forward (ex: Exchange, m: Miss, mode: number, xcache: string, key: string, locked: boolean, stale: CacheEntry | undefined): Verdict {
    // A HEAD that may fill the cache is fetched as GET (convert_head); not one about the client's own copy (Range,
    // conditionals) with nothing to revalidate: its answer would not be stored anyway.
    if (ex.method === 'HEAD' && this.#convertHead && mode === MODE_STORE && (stale !== undefined || (m.flags & CLIENT_COPY) === 0)) ex.forwardMethod = 'GET'
    const tee = new CacheTee(ex, ex.downstream, this.#shared, {
      mode, xcache, key, primary: m.primary, url: urlOf(ex), req: m.req, header: m.header, locked, stale, flags: m.flags, requestTime: m.requestTime
    })
    ex.downstream = tee
    ex.onFinish = () => { if (ex.aborted) tee.abandon() }
    if (stale !== undefined) ex.forwardHeaders = revalidating(ex.headers, this.#policy.revalidationHeaders(stale))
    return NEXT
  }

  /** Refreshes a stale entry once in the background (stale-while-revalidate), on an exchange of its own. */
  #refreshInBackground (ex: Exchange, m: Miss, key: string, entry: CacheEntry): void {
    const t = this.#now()
    const since = this.#refreshing.get(key)
    if (since !== undefined && t - since < 2 * this.#lockTimeout) return
    this.#refreshing.set(key, t)
    const settled = (): void => { this.#refreshing.delete(key) }
    this.#store.lock(key, this.#lockTimeout).then((l) => {
      if (l === 'held') { settled(); return }
      const sink = new SinkDownstream()
      const bg = ex.background(sink, this.#bgReplies)
      sink.ex = bg
      const tee = new CacheTee(bg, sink, this.#shared, {
        mode: MODE_STORE, xcache: 'MISS', key, primary: m.primary, url: urlOf(ex), req: m.req, header: m.header, locked: l === 'acquired', stale: entry, flags: 0, requestTime: this.#now(), onSettled: settled
      })
      bg.downstream = tee
      bg.onFinish = () => { if (bg.aborted) tee.abandon() }
      bg.forwardHeaders = revalidating(ex.headers, this.#policy.revalidationHeaders(entry))
      runAfter(this, bg)
    }, (err: unknown) => {
      settled()
      this.#shared.log.error({ err, key }, 'cache: lock failed')
    })
  }

  #skipsLock (key: string, t: number): boolean {
    const until = this.#uncoalesced.get(key)
    if (until === undefined) return false
    if (until > t) return true
    this.#uncoalesced.delete(key)
    return false
  }

  /** The fill holding the lock on `key` will not be stored: its next misses skip the lock (hit-for-miss). */
  #uncacheable (key: string): void {
    if (this.#hitForMiss === 0) return
    const u = this.#uncoalesced
    u.delete(key)
    if (u.size >= HIT_FOR_MISS_KEYS) u.delete(u.keys().next().value!)
    u.set(key, this.#now() + this.#hitForMiss)
  }
}

/** `host/path?query`, host lower-case: what purge by URL and prefix match. */
function urlOf (ex: Exchange): string {
  return `${ex.host.toLowerCase()}${ex.path}${ex.query === '' ? '' : '?'}${ex.query}`
}

/** The client's headers without its conditionals and Range, plus our validators. */
function revalidating (h: readonly string[], validators: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < h.length; i += 2) if (!CONDITIONAL_FIELDS.has(h[i]!)) out.push(h[i]!, h[i + 1]!)
  for (const v of validators) out.push(v)
  return out
}
