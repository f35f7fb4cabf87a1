// The cache stage (RFC 9111, shared cache): a fresh entry in worker memory answers synchronously; otherwise the
// shared level is read, concurrent misses are coalesced cluster-wide behind one fetch, stale entries are
// revalidated (or served while refreshed in the background), and what the backend sends streams through a tee
// that stores it.
import type { Logger } from 'pino'
import type { RouteCacheConfig } from '../config/index.ts'
import { DONE, NEXT, Exchange, runExchange, type LocalReplies, type Stage, type Verdict } from '../pipeline/index.ts'
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
  /** The stages after this one (balance, upstream): a background refresh runs them on an exchange of its own. */
  readonly rest: () => readonly Stage[]
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
  const { store, policy, log, now, routeId } = o
  const lockTimeout = o.config.lock_timeout
  const convertHead = o.config.convert_head
  const hitForMiss = o.config.hit_for_miss
  /** Keys whose last fill was not storable, and until when their misses skip the lock (insertion order = age). */
  const uncoalesced = new Map<string, number>()
  const skipsLock = (key: string, t: number): boolean => {
    const until = uncoalesced.get(key)
    if (until === undefined) return false
    if (until > t) return true
    uncoalesced.delete(key)
    return false
  }
  const noLookup: HeaderLookup = () => undefined
  const variantKey = (primary: string, names: readonly string[], header: HeaderLookup): string => `${primary}\n${policy.secondaryKey(names, header)}`
  const server = new EntryServer(policy)
  const shared: TeeShared = {
    store,
    policy,
    server,
    maxObject: o.config.max_object,
    options: { storeSetCookie: o.config.store_set_cookie, heuristic: o.config.heuristic },
    now,
    log,
    variantKey,
    uncacheable (key) {
      if (hitForMiss === 0) return
      uncoalesced.delete(key)
      if (uncoalesced.size >= HIT_FOR_MISS_KEYS) uncoalesced.delete(uncoalesced.keys().next().value!)
      uncoalesced.set(key, now() + hitForMiss)
    },
    cacheable (key) {
      uncoalesced.delete(key)
    }
  }
  const plainGet = policy.request('GET', noLookup)
  /** Keys this worker refreshes in the background now, and since when (one refresh per key per worker). */
  const refreshing = new Map<string, number>()
  const bgReplies: LocalReplies = {
    reply (ex, code) {
      ex.status = ERROR_CODES[code].status
      ex.downstream.reply(ex.status, [], code, false)
    },
    fault (ex, err) { log.warn({ reqId: ex.requestId, err }, 'cache: background refresh failed') }
  }

  /** Puts a tee in front of the client and lets the request go on to the backend. */
  const forward = (ex: Exchange, req: RequestPolicy, header: HeaderLookup, flags: number, mode: number, xcache: string,
    key: string, primary: string, locked: boolean, stale: CacheEntry | undefined, requestTime: number): Verdict => {
    // A HEAD that may fill the cache is fetched as GET (convert_head); not one about the client's own copy (Range,
    // conditionals) with nothing to revalidate: its answer would not be stored anyway.
    if (ex.method === 'HEAD' && convertHead && mode === MODE_STORE && (stale !== undefined || (flags & CLIENT_COPY) === 0)) ex.forwardMethod = 'GET'
    const tee = new CacheTee(ex, ex.downstream, shared, {
      mode, xcache, key, primary, url: urlOf(ex), req, header, locked, stale, flags, requestTime
    })
    ex.downstream = tee
    ex.onFinish = () => { if (ex.aborted) tee.abandon() }
    if (stale !== undefined) ex.forwardHeaders = revalidating(ex.headers, policy.revalidationHeaders(stale))
    return NEXT
  }

  /** Serves a stale entry and refreshes it once in the background (stale-while-revalidate). */
  const refreshInBackground = (ex: Exchange, req: RequestPolicy, header: HeaderLookup, key: string, primary: string, entry: CacheEntry): void => {
    const t = now()
    const since = refreshing.get(key)
    if (since !== undefined && t - since < 2 * lockTimeout) return
    refreshing.set(key, t)
    const settled = (): void => { refreshing.delete(key) }
    store.lock(key, lockTimeout).then((l) => {
      if (l === 'held') { settled(); return }
      const sink = new SinkDownstream()
      const bg = new Exchange({
        method: 'GET',
        path: ex.path,
        query: ex.query,
        host: ex.host,
        headers: ex.headers as string[],
        contentLength: -1,
        contentLengthCount: 0,
        chunked: false,
        peerIp: ex.peerIp,
        tls: ex.tls,
        startTime: ex.startTime,
        body: null,
        downstream: sink,
        replies: bgReplies,
        onComplete: () => {}
      })
      sink.ex = bg
      bg.requestId = ex.requestId
      bg.clientIp = ex.clientIp
      bg.trustedPeer = ex.trustedPeer
      bg.forwardPath = ex.forwardPath
      bg.route = ex.route
      const tee = new CacheTee(bg, sink, shared, {
        mode: MODE_STORE, xcache: 'MISS', key, primary, url: urlOf(ex), req, header, locked: l === 'acquired', stale: entry, flags: 0, requestTime: now(), onSettled: settled
      })
      bg.downstream = tee
      bg.onFinish = () => { if (bg.aborted) tee.abandon() }
      bg.forwardHeaders = revalidating(ex.headers, policy.revalidationHeaders(entry))
      runExchange(o.rest(), bg)
    }, (err: unknown) => {
      settled()
      log.error({ err, key }, 'cache: lock failed')
    })
  }

  /** Everything past a memory miss: the shared level, coalescing, revalidation. */
  const slow = async (ex: Exchange, req: RequestPolicy, flags: number, primary: string): Promise<Verdict> => {
    const header = lookupOf(ex)
    const requestTime = now()
    let vary = store.getVaryLocal(primary) ?? await store.getVary(primary)
    let key = vary === undefined || vary.length === 0 ? primary : variantKey(primary, vary, header)
    let entry = await store.get(key)
    // A memory copy that is no longer fresh may hide a fresher entry another worker or host has stored since.
    if (entry !== undefined && store.getLocal(key) === entry && policy.usability(entry, req, now()) !== 'fresh') {
      entry = (await store.getShared(key)) ?? entry
    }
    if (ex.aborted) return DONE
    if (entry !== undefined) {
      const u = policy.usability(entry, req, now())
      if (u === 'fresh') { server.serve(ex, ex.downstream, entry, HIT, flags, now()); return DONE }
      if (u === 'stale-while-revalidate' && !req.onlyIfCached) {
        server.serve(ex, ex.downstream, entry, STALE, flags, now())
        refreshInBackground(ex, req, header, key, primary, entry)
        return DONE
      }
    }
    if (req.onlyIfCached) return ex.reject('SWY_NOT_CACHED')
    // A HEAD not fetched as GET (no body to store), or a request about the client's own copy (Range, conditionals)
    // that found no entry: forwarded as sent, not coalesced; a full 200 to a GET may still be stored, a 206 or 304 never is.
    const headAsSent = ex.method === 'HEAD' && !convertHead
    if (entry === undefined && (headAsSent || (flags & CLIENT_COPY) !== 0)) {
      return forward(ex, req, header, flags, headAsSent ? MODE_PASS : MODE_STORE, 'MISS', key, primary, false, undefined, requestTime)
    }
    // Its last fill was not storable: nobody waits for this one either (what it brings is still stored if it may be).
    if (skipsLock(key, requestTime)) return forward(ex, req, header, flags, MODE_STORE, 'MISS', key, primary, false, entry, requestTime)
    for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
      const l = await store.lock(key, lockTimeout)
      if (ex.aborted) { if (l === 'acquired') void store.release(key); return DONE }
      if (l === 'unavailable') return forward(ex, req, header, flags, MODE_STORE, 'MISS', key, primary, false, entry, requestTime)
      if (l === 'acquired') {
        // Double-checked: a fill may have landed between our read and the lock.
        if (entry === undefined) {
          const again = await store.get(key)
          if (again !== undefined && policy.usability(again, req, now()) === 'fresh') {
            void store.release(key)
            if (ex.aborted) return DONE
            server.serve(ex, ex.downstream, again, HIT, flags, now())
            return DONE
          }
        }
        if (ex.aborted) { void store.release(key); return DONE }
        return forward(ex, req, header, flags, MODE_STORE, 'MISS', key, primary, true, entry, requestTime)
      }
      // Held: someone in the cluster is fetching this key. Wait for the fill, then serve it.
      const w = await store.waitFill(key, lockTimeout)
      if (ex.aborted) return DONE
      vary = store.getVaryLocal(primary) ?? await store.getVary(primary)
      const filledKey = vary === undefined || vary.length === 0 ? primary : variantKey(primary, vary, header)
      const filled = await store.get(filledKey)
      if (ex.aborted) return DONE
      const u = filled === undefined ? 'revalidate' : policy.usability(filled, req, now())
      if (u !== 'revalidate') {
        server.serve(ex, ex.downstream, filled!, u === 'fresh' ? HIT : STALE, flags, now())
        return DONE
      }
      // The holder died (its lock expired): try to become the fetcher. Otherwise its response was not storable,
      // or it took longer than lock_timeout: fetch ourselves.
      if (w !== 'expired') break
      key = filledKey
      entry = filled
    }
    return forward(ex, req, header, flags, MODE_STORE, 'MISS', key, primary, false, entry, requestTime)
  }

  return {
    name: 'cache',
    run (ex) {
      const m = ex.method
      if (m !== 'GET' && m !== 'HEAD') {
        // Unsafe methods invalidate the URL once the backend accepted them (RFC 9111 §4.4); OPTIONS and TRACE are safe.
        if (m !== 'OPTIONS' && m !== 'TRACE') ex.downstream = new InvalidatingDownstream(ex.downstream, store, urlOf(ex), ex.tls, log)
        return NEXT
      }
      const flags = scan(ex.headers)
      const req = (flags & F_POLICY) === 0 ? plainGet : policy.request(m, lookupOf(ex))
      const primary = `${routeId}|${ex.host.toLowerCase()}|${ex.path}${ex.query === '' ? '' : '?'}${ex.query}`
      if (req.noStore || (flags & F_PRECONDITION) !== 0) {
        // no-store, or If-Match / If-Unmodified-Since (only the origin can judge those): not consulted, not stored.
        return forward(ex, req, noLookup, 0, MODE_PASS, 'BYPASS', primary, primary, false, undefined, 0)
      }
      if (!req.noCache) {
        // A response without Vary is stored under the primary key itself, so one lookup finds it; only a miss there
        // asks whether the resource varies (a second lookup per hit was a tenth of the hit path's JS time).
        let e = store.getLocal(primary)
        if (e === undefined) {
          const vary = store.getVaryLocal(primary)
          if (vary !== undefined && vary.length > 0) e = store.getLocal(variantKey(primary, vary, lookupOf(ex)))
        }
        if (e !== undefined) {
          const t = now()
          if (policy.usability(e, req, t) === 'fresh') {
            server.serve(ex, ex.downstream, e, HIT, flags, t)
            return DONE
          }
        }
      }
      return slow(ex, req, flags, primary)
    }
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
