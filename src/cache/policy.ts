// What a shared HTTP cache may store, for how long, and how a stored entry may be used (RFC 9111, RFC 5861).
// Pure functions: no I/O, the time comes in as `now` (ms since the epoch), so every host and test reads alike.
import type { CacheEntry, HeaderLookup, RequestPolicy, Storability, Usability } from './types.ts'
import { HOP_BY_HOP } from '../upstream/index.ts'
import { deltaSecondsMs, listHas, parseCacheControl, parseHttpDate, DELTA_SECONDS_MAX } from './cache-control.ts'

const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS

/**
 * How long past its usable life (fresh + stale windows) an entry with a validator (ETag or Last-Modified) is kept:
 * a conditional request answered 304 costs the backend a head instead of a body, so the entry stays around to be
 * revalidated for one more hour. An entry without validators is worth nothing once unusable and gets no extra time.
 */
export const REVALIDATE_KEEP_MS = HOUR_MS

/** §4.2.2: the heuristic lifetime is 10% of Date − Last-Modified, capped here at one day. */
export const HEURISTIC_MAX_MS = DAY_MS

/**
 * Statuses "heuristically cacheable" (RFC 9110 §15.1), minus 206: the cache stores full objects only and
 * answers ranges itself.
 */
const HEURISTIC_STATUSES: ReadonlySet<number> = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501])

/**
 * Final statuses this cache understands (§3) and stores when the response gives an explicit lifetime: the heuristic
 * set plus the other redirects. Other errors (500, 502, 503 …) are never stored, so one backend blip can't be pinned
 * in the cache for everyone; 206 and 304 are never stored either (full objects only).
 */
const STORABLE_STATUSES: ReadonlySet<number> = new Set([...HEURISTIC_STATUSES, 302, 303, 307])

/** Hop-by-hop fields (RFC 9110 §7.6.1) and ones the cache owns or recomputes (§3.1): never stored. */
const NOT_STORED: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP, 'proxy-authenticate', 'proxy-authorization', 'content-length', 'date', 'age'
])

/**
 * Fields a 304 does not replace in the stored response (§3.2, §4.3.4): the ones never stored, the ones the stored body
 * depends on (its length, coding and range), Set-Cookie (meant for the one client that triggered the revalidation),
 * and Vary (the entry's variant key was computed from the original Vary).
 */
const NOT_UPDATED: ReadonlySet<string> = new Set([
  ...NOT_STORED, 'content-encoding', 'content-range', 'set-cookie', 'vary'
])

/** Fields compared case-insensitively when building a variant key (RFC 9110 §12.5: tokens, codings, language tags, media types). */
const CASELESS_VARY: ReadonlySet<string> = new Set(['accept', 'accept-charset', 'accept-encoding', 'accept-language'])

/** Every RequestPolicy comes from this one literal, so the stage's reads of it see one object shape. */
function makePolicy (cacheable: boolean, noStore: boolean, noCache: boolean, maxAgeMs: number | undefined, maxStaleMs: number | undefined,
  minFreshMs: number | undefined, onlyIfCached: boolean, authorized: boolean): RequestPolicy {
  return { cacheable, noStore, noCache, maxAgeMs, maxStaleMs, minFreshMs, onlyIfCached, authorized }
}

// The common requests share one (readonly) policy each: the hit path of a plain GET allocates nothing here.
const PLAIN_REQUEST = makePolicy(true, false, false, undefined, undefined, undefined, false, false)
const PLAIN_AUTHORIZED_REQUEST = makePolicy(true, false, false, undefined, undefined, undefined, false, true)
const NOT_CACHEABLE_REQUEST = makePolicy(false, false, false, undefined, undefined, undefined, false, false)

/**
 * What a request allows (§5.2.1): only GET and HEAD may be answered from the cache. `Pragma: no-cache` counts
 * only when there is no Cache-Control (§5.4). `max-age=0` means no-cache. An invalid argument ignores the
 * directive; `max-stale` without one accepts any staleness.
 */
export function requestPolicy (method: string, header: HeaderLookup): RequestPolicy {
  const cacheable = method === 'GET' || method === 'HEAD'
  const authorized = header('authorization') !== undefined
  const value = header('cache-control')
  if (value === undefined) {
    const pragma = header('pragma')
    if (pragma !== undefined && listHas(pragma, 'no-cache')) return makePolicy(cacheable, false, true, undefined, undefined, undefined, false, authorized)
    if (!cacheable) return authorized ? makePolicy(false, false, false, undefined, undefined, undefined, false, true) : NOT_CACHEABLE_REQUEST
    return authorized ? PLAIN_AUTHORIZED_REQUEST : PLAIN_REQUEST
  }
  const cc = parseCacheControl(value)
  const maxAgeMs = deltaSecondsMs(cc, 'max-age')
  const maxStale = cc.get('max-stale')
  return makePolicy(
    cacheable,
    cc.has('no-store'),
    cc.has('no-cache') || maxAgeMs === 0,
    maxAgeMs,
    maxStale === true ? Infinity : deltaSecondsMs(cc, 'max-stale'),
    deltaSecondsMs(cc, 'min-fresh'),
    cc.has('only-if-cached'),
    authorized
  )
}

/** The response fields the policy reads, gathered in one pass over a flat `[name, value, …]` list. */
class Fields {
  cacheControl: string | undefined = undefined
  date: string | undefined = undefined
  age: string | undefined = undefined
  expires: string | undefined = undefined
  lastModified: string | undefined = undefined
  etag: string | undefined = undefined
  vary: string | undefined = undefined
  surrogateKey: string | undefined = undefined
  cacheTag: string | undefined = undefined
  connection: string | undefined = undefined
  setCookie = false
}

/** List fields repeat as one comma-joined list (RFC 9110 §5.3); singleton fields keep their first line (§4.2.1). */
function scan (headers: readonly string[]): Fields {
  const f = new Fields()
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const v = headers[i + 1]!
    switch (headers[i]) {
      case 'cache-control': f.cacheControl = f.cacheControl === undefined ? v : `${f.cacheControl}, ${v}`; break
      case 'date': f.date ??= v; break
      case 'age': f.age ??= v; break
      case 'expires': f.expires ??= v; break
      case 'last-modified': f.lastModified ??= v.trim(); break
      case 'etag': f.etag ??= v.trim(); break
      case 'vary': f.vary = f.vary === undefined ? v : `${f.vary}, ${v}`; break
      case 'surrogate-key': f.surrogateKey = f.surrogateKey === undefined ? v : `${f.surrogateKey} ${v}`; break
      case 'cache-tag': f.cacheTag = f.cacheTag === undefined ? v : `${f.cacheTag},${v}`; break
      case 'connection': f.connection = f.connection === undefined ? v : `${f.connection}, ${v}`; break
      case 'set-cookie': f.setCookie = true; break
    }
  }
  return f
}

/** Last-Modified when it is a valid HTTP-date: an invalid one is no validator (nothing can be compared with it). */
function validLastModified (f: Fields): string | undefined {
  return f.lastModified !== undefined && parseHttpDate(f.lastModified) !== undefined ? f.lastModified : undefined
}

/** Freshness facts of one response (§4.2), computed the same way for storability, buildEntry and a 304 refresh. */
class Freshness {
  initialAgeMs = 0
  lifetimeMs = 0
  /** s-maxage, max-age or Expires present (even if invalid). */
  explicit = false
  swrMs = 0
  sieMs = 0
  mustRevalidate = false
  noCache = false
}

function freshness (f: Fields, cc: ReadonlyMap<string, string | true>, requestTime: number, responseTime: number): Freshness {
  const out = new Freshness()
  // §4.2.3: a missing or invalid Date reads as the time the response arrived (RFC 9110 §6.6.1).
  const date = parseHttpDate(f.date) ?? responseTime
  const apparentAge = Math.max(0, responseTime - date)
  out.initialAgeMs = Math.max(apparentAge, ageHeaderMs(f.age) + Math.max(0, responseTime - requestTime))
  const sMaxAge = cc.get('s-maxage')
  const maxAge = cc.get('max-age')
  if (sMaxAge !== undefined) {
    // §4.2.1: a shared cache uses s-maxage first; an invalid value is "stale" (§4.2.1, last paragraph).
    out.explicit = true
    out.lifetimeMs = deltaSecondsMs(cc, 's-maxage') ?? 0
  } else if (maxAge !== undefined) {
    out.explicit = true
    out.lifetimeMs = deltaSecondsMs(cc, 'max-age') ?? 0
  } else if (f.expires !== undefined) {
    // §5.3: an invalid Expires, "0" especially, is already expired.
    out.explicit = true
    const expires = parseHttpDate(f.expires)
    out.lifetimeMs = expires === undefined ? 0 : Math.max(0, expires - date)
  } else {
    // §4.2.2: whether a heuristic may apply at all is storability()'s call; here it is computed when it can be.
    const lastModified = parseHttpDate(f.lastModified)
    if (lastModified !== undefined) out.lifetimeMs = Math.min(HEURISTIC_MAX_MS, Math.max(0, Math.floor((date - lastModified) / 10)))
  }
  out.swrMs = deltaSecondsMs(cc, 'stale-while-revalidate') ?? 0
  out.sieMs = deltaSecondsMs(cc, 'stale-if-error') ?? 0
  // §5.2.2.10: s-maxage carries proxy-revalidate's meaning for a shared cache.
  out.mustRevalidate = cc.has('must-revalidate') || cc.has('proxy-revalidate') || sMaxAge !== undefined
  // §5.2.2.4: no-cache with field names is treated as plain no-cache (stricter, allowed).
  out.noCache = cc.has('no-cache')
  return out
}

/** §5.1: the first member of Age as delta-seconds; anything else is ignored (0). */
function ageHeaderMs (value: string | undefined): number {
  if (value === undefined) return 0
  const comma = value.indexOf(',')
  const s = comma < 0 ? value.trim() : value.slice(0, comma).trim()
  if (s.length === 0) return 0
  let x = 0
  for (let i = 0; i < s.length; i++) {
    const d = s.charCodeAt(i) - 48
    if (d < 0 || d > 9) return 0
    x = x * 10 + d
  }
  return Math.min(x, DELTA_SECONDS_MAX) * 1000
}

/**
 * How long the store keeps an entry: the rest of its freshness, plus the stale window it may still be served in
 * (max of stale-while-revalidate and stale-if-error; none when must-revalidate or no-cache forbid serving stale),
 * plus REVALIDATE_KEEP_MS when it has a validator to revalidate with.
 */
function keepMs (fr: Freshness, hasValidator: boolean): number {
  // no-cache: never served without revalidation, so freshness and stale windows buy nothing
  const fresh = fr.noCache ? 0 : Math.max(0, fr.lifetimeMs - fr.initialAgeMs)
  const window = fr.mustRevalidate || fr.noCache ? 0 : Math.max(fr.swrMs, fr.sieMs)
  return fresh + window + (hasValidator ? REVALIDATE_KEEP_MS : 0)
}

export interface StorabilityInput {
  readonly method: string
  readonly status: number
  readonly request: RequestPolicy
  /** Flat `[name, value, …]`, names lower-case, as the backend sent them. */
  readonly responseHeaders: readonly string[]
  /** Route config: store responses that set cookies (and replay the cookie to everyone). */
  readonly storeSetCookie: boolean
  /** Route config: allow a heuristic lifetime (§4.2.2) when the response gives none. */
  readonly heuristic: boolean
  /** When the response head arrived, ms. */
  readonly now: number
}

/**
 * May a shared cache store this response (§3, §3.5), and for how long (`ttlMs`, see REVALIDATE_KEEP_MS and keepMs)?
 * HEAD responses are not stored ('method HEAD'): they carry no body, and a stored one would answer a later GET
 * with nothing. Fetch a HEAD miss as GET if it should fill the cache. Private with field names counts as private.
 */
export function storability (o: StorabilityInput): Storability {
  if (o.method !== 'GET') return { store: false, reason: `method ${o.method}` }
  if (o.request.noStore) return { store: false, reason: 'request no-store' }
  if (!STORABLE_STATUSES.has(o.status)) return { store: false, reason: `status ${o.status}` }
  const f = scan(o.responseHeaders)
  const cc = parseCacheControl(f.cacheControl)
  // §5.2.2.3: must-understand (with a status we understand, checked above) overrides no-store.
  if (cc.has('no-store') && !cc.has('must-understand')) return { store: false, reason: 'no-store' }
  if (cc.has('private')) return { store: false, reason: 'private' }
  if (o.request.authorized && !cc.has('public') && !cc.has('s-maxage') && !cc.has('must-revalidate')) {
    return { store: false, reason: 'authorization' }
  }
  if (f.vary !== undefined && parseVary(f.vary) === STAR) return { store: false, reason: 'vary *' }
  if (f.setCookie && !o.storeSetCookie) return { store: false, reason: 'set-cookie' }
  const fr = freshness(f, cc, o.now, o.now)
  if (!fr.explicit) {
    if (!HEURISTIC_STATUSES.has(o.status) && !cc.has('public')) return { store: false, reason: 'no explicit freshness' }
    // no-cache says how to use a stored copy (revalidate every time): worth storing when it has a validator, and
    // keepMs gives it REVALIDATE_KEEP_MS only then (§5.2.2.4).
    if (!fr.noCache && (!o.heuristic || validLastModified(f) === undefined)) {
      return { store: false, reason: 'no explicit freshness' }
    }
  }
  const ttlMs = keepMs(fr, f.etag !== undefined || validLastModified(f) !== undefined)
  if (ttlMs <= 0) return { store: false, reason: 'stale on arrival' }
  return { store: true, ttlMs }
}

const STAR: readonly string[] = Object.freeze(['*'])
const NO_NAMES: readonly string[] = Object.freeze([])

/**
 * Vary's field names, lower-case, deduped and sorted (so `Accept-Encoding, Accept` and `accept, accept-encoding`
 * give one variant key); `['*']` when it lists `*`; `[]` when absent or empty.
 */
export function parseVary (value: string | undefined): readonly string[] {
  if (value === undefined) return NO_NAMES
  const out: string[] = []
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase()
    if (name === '') continue
    if (name === '*') return STAR
    if (!out.includes(name)) out.push(name)
  }
  return out.length === 0 ? NO_NAMES : out.sort()
}

/** Purge tags: Surrogate-Key split on whitespace, Cache-Tag split on commas; trimmed, deduped, in order. */
function parseTags (surrogateKey: string | undefined, cacheTag: string | undefined): string[] {
  const out: string[] = []
  if (surrogateKey !== undefined) {
    for (const t of surrogateKey.split(' ')) {
      const tag = t.trim()
      if (tag !== '' && !out.includes(tag)) out.push(tag)
    }
  }
  if (cacheTag !== undefined) {
    for (const t of cacheTag.split(',')) {
      const tag = t.trim()
      if (tag !== '' && !out.includes(tag)) out.push(tag)
    }
  }
  return out
}

/** Lower-case field names a Connection value lists (RFC 9110 §7.6.1); `close`/`keep-alive` are options. */
function connectionNames (connection: string | undefined): string[] | undefined {
  if (connection === undefined) return undefined
  const out: string[] = []
  for (const part of connection.split(',')) {
    const name = part.trim().toLowerCase()
    if (name !== '' && name !== 'close' && name !== 'keep-alive') out.push(name)
  }
  return out.length === 0 ? undefined : out
}

/** End-to-end fields to store (§3.1): drops NOT_STORED, fields named in Connection, and Set-Cookie unless kept. */
function storedHeaders (headers: readonly string[], named: readonly string[] | undefined, keepSetCookie: boolean): string[] {
  const out: string[] = []
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i]!
    if (NOT_STORED.has(name) || (name === 'set-cookie' && !keepSetCookie) || (named !== undefined && named.includes(name))) continue
    out.push(name, headers[i + 1]!)
  }
  return out
}

export interface BuildEntryInput {
  readonly status: number
  /** Flat `[name, value, …]`, names lower-case, as the backend sent them. */
  readonly responseHeaders: readonly string[]
  readonly body: Uint8Array
  readonly requestTime: number
  readonly responseTime: number
  readonly url: string
  readonly requestHeader: HeaderLookup
  /** Keep Set-Cookie in the stored headers (route `storeSetCookie`); default false: dropped. */
  readonly keepSetCookie?: boolean
}

/**
 * The entry to store for a response storability() accepted (§3, §4.2). `requestHeader` is not read today: the
 * variant key is secondaryKey(entry.vary, request), computed by the caller.
 */
export function buildEntry (o: BuildEntryInput): CacheEntry {
  const f = scan(o.responseHeaders)
  const headers = storedHeaders(o.responseHeaders, connectionNames(f.connection), o.keepSetCookie === true)
  return assemble(o.status, headers, o.body, f, o.requestTime, o.responseTime, parseVary(f.vary), o.url)
}

/** An entry from its stored headers' fields: freshness, validators and tags are all read from `f`. */
function assemble (status: number, headers: readonly string[], body: Uint8Array, f: Fields, requestTime: number, responseTime: number,
  vary: readonly string[], url: string): CacheEntry {
  const fr = freshness(f, parseCacheControl(f.cacheControl), requestTime, responseTime)
  return {
    status,
    headers,
    body,
    requestTime,
    responseTime,
    initialAgeMs: fr.initialAgeMs,
    lifetimeMs: fr.lifetimeMs,
    swrMs: fr.swrMs,
    sieMs: fr.sieMs,
    mustRevalidate: fr.mustRevalidate,
    noCache: fr.noCache,
    etag: f.etag,
    lastModified: validLastModified(f),
    tags: parseTags(f.surrogateKey, f.cacheTag),
    vary,
    url
  }
}

/** ttlMs for an entry already built (e.g. after refreshFrom304), by the same rule as storability(). */
export function entryTtlMs (entry: CacheEntry, now: number): number {
  const age = currentAgeMs(entry, now)
  const fresh = entry.noCache ? 0 : Math.max(0, entry.lifetimeMs - age)
  const window = entry.mustRevalidate || entry.noCache ? 0 : Math.max(entry.swrMs, entry.sieMs)
  const validator = entry.etag !== undefined || entry.lastModified !== undefined
  return fresh + window + (validator ? REVALIDATE_KEEP_MS : 0)
}

/** §4.2.3: corrected_initial_age + resident_time, ms. */
export function currentAgeMs (entry: CacheEntry, now: number): number {
  return entry.initialAgeMs + Math.max(0, now - entry.responseTime)
}

/**
 * How the entry may answer this request now (§4.2, §4.2.4, §5.2.1, RFC 5861 §3). Either side's no-cache, or an
 * entry older than the request's max-age, means revalidate. Fresh needs age < lifetime and, with min-fresh, at
 * least that much freshness left. Stale: the request's max-stale may allow it as-is, else the response's
 * stale-while-revalidate window; must-revalidate (and s-maxage, proxy-revalidate) forbids both.
 */
export function usability (entry: CacheEntry, request: RequestPolicy, now: number): Usability {
  if (request.noCache || entry.noCache) return 'revalidate'
  const age = currentAgeMs(entry, now)
  if (request.maxAgeMs !== undefined && age > request.maxAgeMs) return 'revalidate'
  const lifetime = entry.lifetimeMs
  if (age < lifetime) {
    return request.minFreshMs === undefined || lifetime - age >= request.minFreshMs ? 'fresh' : 'revalidate'
  }
  if (entry.mustRevalidate) return 'revalidate'
  const staleness = age - lifetime
  if (request.maxStaleMs !== undefined && staleness <= request.maxStaleMs) return 'fresh'
  if (staleness < entry.swrMs && request.minFreshMs === undefined) return 'stale-while-revalidate'
  return 'revalidate'
}

/**
 * RFC 5861 §4: the backend failed (5xx, unreachable, timeout); may the entry answer instead? Only inside its
 * stale-if-error window, and never under must-revalidate / s-maxage / proxy-revalidate or no-cache (§4.2.4).
 * A fresh entry being revalidated only because the request asked counts as inside the window when it has one.
 */
export function servableOnError (entry: CacheEntry, now: number): boolean {
  if (entry.mustRevalidate || entry.noCache || entry.sieMs <= 0) return false
  return currentAgeMs(entry, now) - entry.lifetimeMs <= entry.sieMs
}

/**
 * Whether a client's conditional GET/HEAD is answered 304 from the entry (RFC 9110 §13.1.2, §13.1.3, §13.2.2):
 * If-None-Match (weak comparison, `*`, lists) wins; only without it, If-Modified-Since against the stored
 * Last-Modified (never against Date or the response time). Only 200 entries are compared; the caller checks the method.
 */
export function notModified (request: HeaderLookup, entry: CacheEntry): boolean {
  if (entry.status !== 200) return false
  const inm = request('if-none-match')
  if (inm !== undefined) {
    // §13.1.2: `*` matches any current representation, with or without an ETag.
    if (inm.trim() === '*') return true
    return entry.etag !== undefined && etagListMatches(inm, entry.etag, false)
  }
  const ims = request('if-modified-since')
  if (ims === undefined || entry.lastModified === undefined) return false
  const since = parseHttpDate(ims)
  const lastModified = parseHttpDate(entry.lastModified)
  return since !== undefined && lastModified !== undefined && lastModified <= since
}

/**
 * Whether `list` (an If-None-Match / If-Match value) matches `etag`: `*` matches any; weak comparison (§8.8.3.2)
 * ignores W/ on both sides, strong requires neither to be weak. Quoted commas are respected.
 */
export function etagListMatches (list: string, etag: string, strong: boolean): boolean {
  const etagWeak = etag.startsWith('W/')
  if (strong && etagWeak) return false
  const opaque = etagWeak ? etag.slice(2) : etag
  const n = list.length
  let i = 0
  while (i < n) {
    let c = list.charCodeAt(i)
    while (i < n && (c === 0x2c || c === 0x20 || c === 0x09)) c = list.charCodeAt(++i)
    if (i >= n) break
    let weak = false
    if (c === 0x57 && list.charCodeAt(i + 1) === 0x2f) { weak = true; i += 2 } // W/
    const tagStart = i
    if (list.charCodeAt(i) === 0x22) {
      const close = list.indexOf('"', i + 1)
      i = close < 0 ? n : close + 1
    } else {
      while (i < n && list.charCodeAt(i) !== 0x2c) i++
    }
    const tag = list.slice(tagStart, i).trim()
    if (tag === '*' && !weak) return true
    if (tag === opaque && !(strong && weak)) return true
    while (i < n && list.charCodeAt(i) !== 0x2c) i++
  }
  return false
}

/** The conditional headers to revalidate the entry with (§4.3.1); [] when it has no validator. */
export function revalidationHeaders (entry: CacheEntry): string[] {
  const out: string[] = []
  if (entry.etag !== undefined) out.push('if-none-match', entry.etag)
  if (entry.lastModified !== undefined) out.push('if-modified-since', entry.lastModified)
  return out
}

/**
 * §4.3.4: a 304 from the backend freshens the entry. Its fields replace the stored ones of the same name (all lines
 * of that name), except NOT_UPDATED; freshness is recomputed from the merged fields with the 304's Date and Age and
 * the new request/response times. Body, status, URL and Vary names are kept.
 */
export function refreshFrom304 (entry: CacheEntry, notModifiedHeaders: readonly string[], requestTime: number, responseTime: number): CacheEntry {
  const f304 = scan(notModifiedHeaders)
  const named = connectionNames(f304.connection)
  const replaced: string[] = []
  for (let i = 0; i + 1 < notModifiedHeaders.length; i += 2) {
    const name = notModifiedHeaders[i]!
    if (!NOT_UPDATED.has(name) && (named === undefined || !named.includes(name)) && !replaced.includes(name)) replaced.push(name)
  }
  const headers: string[] = []
  const stored = entry.headers
  for (let i = 0; i + 1 < stored.length; i += 2) {
    if (!replaced.includes(stored[i]!)) headers.push(stored[i]!, stored[i + 1]!)
  }
  for (let i = 0; i + 1 < notModifiedHeaders.length; i += 2) {
    if (replaced.includes(notModifiedHeaders[i]!)) headers.push(notModifiedHeaders[i]!, notModifiedHeaders[i + 1]!)
  }
  const f = scan(headers)
  f.date = f304.date
  f.age = f304.age
  return assemble(entry.status, headers, entry.body, f, requestTime, responseTime, entry.vary, entry.url)
}

/** The Age value to send (§5.1): current age in whole seconds, capped at 2^31. */
export function ageSeconds (entry: CacheEntry, now: number): number {
  return Math.min(DELTA_SECONDS_MAX, Math.floor(currentAgeMs(entry, now) / 1000))
}

/** The stored fields plus Age in whole seconds (§5.1); the stage adds X-Cache and framing. */
export function responseHeaders (entry: CacheEntry, now: number): string[] {
  const out = entry.headers.slice()
  out.push('age', String(ageSeconds(entry, now)))
  return out
}

/**
 * The variant key (§4.1): for each Vary name, in the given order, `name:value` or just `name` when the request
 * lacks it (absent ≠ empty), joined by newlines (which no field name or value can contain). Values are normalised
 * only where list syntax and token rules make variants equal: leading/trailing whitespace dropped, whitespace runs
 * collapsed to one space, whitespace around commas dropped (RFC 9110 §5.6.1; quotes are not tracked, so a quoted
 * double space collapses too); lower-cased for Accept, Accept-Charset, Accept-Encoding and Accept-Language, whose
 * codings, charsets, language tags and media types compare case-insensitively (parameter values are lower-cased
 * with them). Member order and q-values are kept (no reordering), and every other field (Cookie, User-Agent,
 * custom ones) keeps its case.
 */
export function secondaryKey (vary: readonly string[], request: HeaderLookup): string {
  let key = ''
  for (let i = 0; i < vary.length; i++) {
    const name = vary[i]!
    const value = request(name)
    if (i > 0) key += '\n'
    if (value === undefined) { key += name; continue }
    const v = normaliseValue(value)
    key += name + ':' + (CASELESS_VARY.has(name) ? v.toLowerCase() : v)
  }
  return key
}

function normaliseValue (value: string): string {
  if (isNormal(value)) return value
  let out = ''
  let pendingSpace = false
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c === 0x20 || c === 0x09) { pendingSpace = out.length > 0; continue }
    if (c === 0x2c) { pendingSpace = false; out += ','; continue }
    if (pendingSpace && out.charCodeAt(out.length - 1) !== 0x2c) out += ' '
    pendingSpace = false
    out += value[i]
  }
  return out
}

/** Fast path: no tab, no leading/trailing/double space, no space next to a comma. */
function isNormal (value: string): boolean {
  const n = value.length
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i)
    if (c === 0x09) return false
    if (c === 0x20 && (i === 0 || i === n - 1 || value.charCodeAt(i - 1) === 0x20 || value.charCodeAt(i - 1) === 0x2c || value.charCodeAt(i + 1) === 0x2c)) return false
  }
  return true
}
