// The shared-cache policy (RFC 9111, RFC 5861): request directives, storability and ttl, entry freshness, usability,
// stale-if-error, client conditionals, 304 refresh, Age and variant keys. Time is passed in; nothing sleeps.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { CacheEntry, HeaderLookup, RequestPolicy, Storability, Usability } from '../../../src/cache/types.ts'
import {
  buildEntry, currentAgeMs, entryTtlMs, notModified, refreshFrom304, requestPolicy, responseHeaders, revalidationHeaders,
  secondaryKey, servableOnError, storability, usability, ageSeconds, etagListMatches, REVALIDATE_KEEP_MS
} from '../../../src/cache/policy.ts'

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0)
const S = 1000
const H = 3_600_000
const http = (ms: number): string => new Date(ms).toUTCString()
const lookup = (h: Record<string, string>): HeaderLookup => (name) => h[name]

function entry (o: Partial<CacheEntry> = {}): CacheEntry {
  return {
    status: 200,
    headers: [],
    body: new Uint8Array(0),
    requestTime: T0,
    responseTime: T0,
    initialAgeMs: 0,
    lifetimeMs: 60 * S,
    swrMs: 0,
    sieMs: 0,
    mustRevalidate: false,
    noCache: false,
    etag: undefined,
    lastModified: undefined,
    tags: [],
    vary: [],
    url: 'a.test/x',
    ...o
  }
}

const GET: RequestPolicy = {
  cacheable: true, noStore: false, noCache: false, maxAgeMs: undefined, maxStaleMs: undefined, minFreshMs: undefined, onlyIfCached: false, authorized: false
}
const req = (o: Partial<RequestPolicy> = {}): RequestPolicy => ({ ...GET, ...o })

// ── requestPolicy ────────────────────────────────────────────────────────────────────────────────────────────────

const requestCases: Array<{ name: string, input: { method: string, headers: Record<string, string> }, expected: RequestPolicy }> = [
  { name: '§5.2.1 plain GET', input: { method: 'GET', headers: {} }, expected: GET },
  { name: 'HEAD is cacheable', input: { method: 'HEAD', headers: {} }, expected: GET },
  { name: 'POST is not cacheable', input: { method: 'POST', headers: {} }, expected: req({ cacheable: false }) },
  { name: 'POST with Authorization', input: { method: 'POST', headers: { authorization: 'Bearer x' } }, expected: req({ cacheable: false, authorized: true }) },
  { name: '§3.5 Authorization is noted', input: { method: 'GET', headers: { authorization: 'Basic eA==' } }, expected: req({ authorized: true }) },
  { name: '§5.2.1.5 no-store', input: { method: 'GET', headers: { 'cache-control': 'no-store' } }, expected: req({ noStore: true }) },
  { name: '§5.2.1.4 no-cache', input: { method: 'GET', headers: { 'cache-control': 'no-cache' } }, expected: req({ noCache: true }) },
  { name: '§5.2.1.1 max-age=0 is no-cache', input: { method: 'GET', headers: { 'cache-control': 'max-age=0' } }, expected: req({ noCache: true, maxAgeMs: 0 }) },
  { name: '§5.2.1.1 max-age in ms', input: { method: 'GET', headers: { 'cache-control': 'max-age=30' } }, expected: req({ maxAgeMs: 30 * S }) },
  { name: '§5.2.1.1 an invalid max-age is ignored', input: { method: 'GET', headers: { 'cache-control': 'max-age=soon' } }, expected: GET },
  { name: '§5.4 Pragma: no-cache without Cache-Control', input: { method: 'GET', headers: { pragma: 'no-cache' } }, expected: req({ noCache: true }) },
  { name: '§5.4 Pragma is ignored when Cache-Control is present', input: { method: 'GET', headers: { pragma: 'no-cache', 'cache-control': 'max-age=60' } }, expected: req({ maxAgeMs: 60 * S }) },
  { name: '§5.4 other Pragma values mean nothing', input: { method: 'GET', headers: { pragma: 'x-foo' } }, expected: GET },
  { name: '§5.2.1.2 max-stale without a value accepts any staleness', input: { method: 'GET', headers: { 'cache-control': 'max-stale' } }, expected: req({ maxStaleMs: Infinity }) },
  { name: '§5.2.1.2 max-stale with a value', input: { method: 'GET', headers: { 'cache-control': 'max-stale=10' } }, expected: req({ maxStaleMs: 10 * S }) },
  { name: '§5.2.1.2 an invalid max-stale is ignored', input: { method: 'GET', headers: { 'cache-control': 'max-stale=x' } }, expected: GET },
  { name: '§5.2.1.3 min-fresh', input: { method: 'GET', headers: { 'cache-control': 'min-fresh=5' } }, expected: req({ minFreshMs: 5 * S }) },
  { name: '§5.2.1.7 only-if-cached', input: { method: 'GET', headers: { 'cache-control': 'only-if-cached' } }, expected: req({ onlyIfCached: true }) },
  { name: 'directive names are case-insensitive', input: { method: 'GET', headers: { 'cache-control': 'No-Cache, MAX-STALE=1' } }, expected: req({ noCache: true, maxStaleMs: S }) }
]

for (const c of requestCases) {
  test(`requestPolicy: ${c.name}`, () => {
    assert.deepEqual({ ...requestPolicy(c.input.method, lookup(c.input.headers)) }, c.expected)
  })
}

test('requestPolicy: a plain GET allocates no policy (one shared object)', () => {
  assert.equal(requestPolicy('GET', lookup({})), requestPolicy('HEAD', lookup({ accept: '*/*' })))
})

// ── storability ──────────────────────────────────────────────────────────────────────────────────────────────────

interface StoreInput {
  method?: string
  status?: number
  request?: RequestPolicy
  headers: string[]
  storeSetCookie?: boolean
  heuristic?: boolean
}
const DATE = ['date', http(T0)]
const keep = REVALIDATE_KEEP_MS
const storeCases: Array<{ name: string, input: StoreInput, expected: Storability }> = [
  { name: '§3 explicit max-age', input: { headers: [...DATE, 'cache-control', 'max-age=60'] }, expected: { store: true, ttlMs: 60 * S } },
  { name: '§3 method POST', input: { method: 'POST', headers: [...DATE, 'cache-control', 'max-age=60'] }, expected: { store: false, reason: 'method POST' } },
  { name: 'HEAD is not stored (no body to answer a GET with)', input: { method: 'HEAD', headers: ['cache-control', 'max-age=60'] }, expected: { store: false, reason: 'method HEAD' } },
  { name: '§5.2.1.5 request no-store', input: { request: req({ noStore: true }), headers: ['cache-control', 'max-age=60'] }, expected: { store: false, reason: 'request no-store' } },
  { name: '§3 status 500 is not stored even with max-age', input: { status: 500, headers: ['cache-control', 'max-age=60'] }, expected: { store: false, reason: 'status 500' } },
  { name: '§3 status 206 (full objects only)', input: { status: 206, headers: ['cache-control', 'max-age=60'] }, expected: { store: false, reason: 'status 206' } },
  { name: '§3 status 304', input: { status: 304, headers: ['cache-control', 'max-age=60'] }, expected: { store: false, reason: 'status 304' } },
  { name: '§3 a non-final status', input: { status: 103, headers: ['cache-control', 'max-age=60'] }, expected: { store: false, reason: 'status 103' } },
  { name: '§3 404 with max-age', input: { status: 404, headers: ['cache-control', 'max-age=60'] }, expected: { store: true, ttlMs: 60 * S } },
  { name: '§3 302 with max-age', input: { status: 302, headers: ['cache-control', 'max-age=60'] }, expected: { store: true, ttlMs: 60 * S } },
  { name: '§5.2.2.5 no-store', input: { headers: ['cache-control', 'max-age=60, no-store'] }, expected: { store: false, reason: 'no-store' } },
  { name: '§5.2.2.3 must-understand with an understood status overrides no-store', input: { headers: ['cache-control', 'no-store, must-understand, max-age=60'] }, expected: { store: true, ttlMs: 60 * S } },
  { name: '§5.2.2.7 private', input: { headers: ['cache-control', 'private, max-age=60'] }, expected: { store: false, reason: 'private' } },
  { name: '§5.2.2.7 private with field names counts as private', input: { headers: ['cache-control', 'private="set-cookie", max-age=60'] }, expected: { store: false, reason: 'private' } },
  { name: '§3.5 Authorization with plain max-age', input: { request: req({ authorized: true }), headers: ['cache-control', 'max-age=60'] }, expected: { store: false, reason: 'authorization' } },
  { name: '§3.5 Authorization + public', input: { request: req({ authorized: true }), headers: ['cache-control', 'public, max-age=60'] }, expected: { store: true, ttlMs: 60 * S } },
  { name: '§3.5 Authorization + s-maxage', input: { request: req({ authorized: true }), headers: ['cache-control', 's-maxage=60'] }, expected: { store: true, ttlMs: 60 * S } },
  { name: '§3.5 Authorization + must-revalidate', input: { request: req({ authorized: true }), headers: ['cache-control', 'must-revalidate, max-age=60'] }, expected: { store: true, ttlMs: 60 * S } },
  { name: '§4.1 Vary: *', input: { headers: ['cache-control', 'max-age=60', 'vary', '*'] }, expected: { store: false, reason: 'vary *' } },
  { name: '§4.1 Vary with * among names', input: { headers: ['cache-control', 'max-age=60', 'vary', 'accept', 'vary', '*'] }, expected: { store: false, reason: 'vary *' } },
  { name: 'Vary with names is stored', input: { headers: ['cache-control', 'max-age=60', 'vary', 'Accept-Encoding'] }, expected: { store: true, ttlMs: 60 * S } },
  { name: 'Set-Cookie refused by default', input: { headers: ['cache-control', 'max-age=60', 'set-cookie', 'a=1'] }, expected: { store: false, reason: 'set-cookie' } },
  { name: 'Set-Cookie stored when configured', input: { storeSetCookie: true, headers: ['cache-control', 'max-age=60', 'set-cookie', 'a=1'] }, expected: { store: true, ttlMs: 60 * S } },
  { name: '§4.2.1 s-maxage beats max-age', input: { headers: ['cache-control', 'max-age=100, s-maxage=10'] }, expected: { store: true, ttlMs: 10 * S } },
  { name: '§4.2.1 Expires − Date', input: { headers: [...DATE, 'expires', http(T0 + 120 * S)] }, expected: { store: true, ttlMs: 120 * S } },
  { name: '§4.2.1 max-age beats Expires', input: { headers: [...DATE, 'expires', http(T0 + 120 * S), 'cache-control', 'max-age=5'] }, expected: { store: true, ttlMs: 5 * S } },
  { name: '§5.3 Expires in the past, no validator: stale on arrival', input: { headers: [...DATE, 'expires', http(T0 - 120 * S)] }, expected: { store: false, reason: 'stale on arrival' } },
  { name: '§5.3 invalid Expires (0) is expired; an ETag keeps it for revalidation', input: { headers: [...DATE, 'expires', '0', 'etag', '"a"'] }, expected: { store: true, ttlMs: keep } },
  { name: '§4.2.1 invalid max-age is stale, kept for its Last-Modified', input: { headers: [...DATE, 'cache-control', 'max-age=abc', 'last-modified', http(T0 - H)] }, expected: { store: true, ttlMs: keep } },
  { name: '§4.2.3 Age header reduces the ttl', input: { headers: [...DATE, 'cache-control', 'max-age=60', 'age', '20'] }, expected: { store: true, ttlMs: 40 * S } },
  { name: '§4.2.3 apparent age from Date reduces the ttl', input: { headers: ['date', http(T0 - 30 * S), 'cache-control', 'max-age=60'] }, expected: { store: true, ttlMs: 30 * S } },
  { name: '§4.2.3 the larger of Age and apparent age wins', input: { headers: ['date', http(T0 - 30 * S), 'cache-control', 'max-age=60', 'age', '10'] }, expected: { store: true, ttlMs: 30 * S } },
  { name: '§4.2.3 older than its lifetime on arrival', input: { headers: [...DATE, 'cache-control', 'max-age=60', 'age', '90'] }, expected: { store: false, reason: 'stale on arrival' } },
  { name: 'RFC 5861 the larger stale window is added', input: { headers: ['cache-control', 'max-age=60, stale-while-revalidate=30, stale-if-error=300'] }, expected: { store: true, ttlMs: 360 * S } },
  { name: '§5.2.2.2 must-revalidate: stale windows are not kept', input: { headers: ['cache-control', 'max-age=60, must-revalidate, stale-while-revalidate=30'] }, expected: { store: true, ttlMs: 60 * S } },
  { name: '§5.2.2.10 s-maxage: stale windows are not kept', input: { headers: ['cache-control', 's-maxage=60, stale-if-error=300'] }, expected: { store: true, ttlMs: 60 * S } },
  { name: 'an ETag adds the revalidation keep time', input: { headers: ['cache-control', 'max-age=60', 'etag', '"v1"'] }, expected: { store: true, ttlMs: 60 * S + keep } },
  { name: '§5.2.2.4 no-cache with an ETag is kept for revalidation only', input: { headers: ['cache-control', 'no-cache, stale-while-revalidate=60', 'etag', '"v1"'] }, expected: { store: true, ttlMs: keep } },
  { name: '§5.2.2.4 no-cache without max-age but with a validator is stored for revalidation', input: { headers: ['cache-control', 'no-cache', 'etag', '"v1"'] }, expected: { store: true, ttlMs: keep } },
  { name: '§5.2.2.4 no-cache without a validator is useless: stale on arrival', input: { headers: ['cache-control', 'no-cache'] }, expected: { store: false, reason: 'stale on arrival' } },
  { name: '§5.2.2.4 no-cache on a status that is not heuristically cacheable', input: { status: 302, headers: ['cache-control', 'no-cache', 'etag', '"v1"'] }, expected: { store: false, reason: 'no explicit freshness' } },
  { name: '§3 no explicit freshness and no Last-Modified', input: { heuristic: true, headers: [...DATE] }, expected: { store: false, reason: 'no explicit freshness' } },
  { name: '§4.2.2 heuristic: 10% of Date − Last-Modified', input: { heuristic: true, headers: [...DATE, 'last-modified', http(T0 - 5 * 24 * H)] }, expected: { store: true, ttlMs: 12 * H + keep } },
  { name: '§4.2.2 heuristic capped at one day', input: { heuristic: true, headers: [...DATE, 'last-modified', http(T0 - 100 * 24 * H)] }, expected: { store: true, ttlMs: 24 * H + keep } },
  { name: '§4.2.2 heuristic off in config', input: { heuristic: false, headers: [...DATE, 'last-modified', http(T0 - 5 * 24 * H)] }, expected: { store: false, reason: 'no explicit freshness' } },
  { name: '§4.2.2 heuristic needs a heuristically cacheable status (302 is not)', input: { status: 302, heuristic: true, headers: [...DATE, 'last-modified', http(T0 - 24 * H)] }, expected: { store: false, reason: 'no explicit freshness' } },
  { name: '§4.2.2 public makes any understood status heuristically cacheable', input: { status: 302, heuristic: true, headers: [...DATE, 'cache-control', 'public', 'last-modified', http(T0 - 10 * H)] }, expected: { store: true, ttlMs: H + keep } },
  { name: 'an invalid Last-Modified is no validator: stale on arrival', input: { headers: [...DATE, 'expires', '0', 'last-modified', 'yesterday'] }, expected: { store: false, reason: 'stale on arrival' } },
  { name: '§4.2.2 heuristic on 501 with an invalid Last-Modified', input: { status: 501, heuristic: true, headers: [...DATE, 'last-modified', 'yesterday'] }, expected: { store: false, reason: 'no explicit freshness' } }
]

for (const c of storeCases) {
  test(`storability: ${c.name}`, () => {
    const i = c.input
    const got = storability({
      method: i.method ?? 'GET',
      status: i.status ?? 200,
      request: i.request ?? GET,
      responseHeaders: i.headers,
      storeSetCookie: i.storeSetCookie ?? false,
      heuristic: i.heuristic ?? false,
      now: T0
    })
    assert.deepEqual(got, c.expected)
  })
}

// ── buildEntry ───────────────────────────────────────────────────────────────────────────────────────────────────

interface BuildInput { headers: string[], requestTime?: number, responseTime?: number, keepSetCookie?: boolean }
const buildCases: Array<{ name: string, input: BuildInput, expected: Partial<CacheEntry> }> = [
  { name: '§4.2.3 apparent age from Date', input: { headers: ['date', http(T0 - 10 * S)] }, expected: { initialAgeMs: 10 * S } },
  { name: '§4.2.3 Age plus response delay', input: { headers: ['date', http(T0), 'age', '30'], requestTime: T0 - 2 * S }, expected: { initialAgeMs: 32 * S } },
  { name: '§4.2.3 apparent age beats a smaller corrected Age', input: { headers: ['date', http(T0 - 50 * S), 'age', '30'], requestTime: T0 - 2 * S }, expected: { initialAgeMs: 50 * S } },
  { name: '§4.2.3 a Date in the future gives no negative age', input: { headers: ['date', http(T0 + 60 * S)] }, expected: { initialAgeMs: 0 } },
  { name: '§5.1 a list-valued Age uses its first member', input: { headers: ['age', '10, 20'] }, expected: { initialAgeMs: 10 * S } },
  { name: '§5.1 an invalid Age is ignored', input: { headers: ['age', '-5'] }, expected: { initialAgeMs: 0 } },
  { name: '§4.2.1 s-maxage beats max-age and implies proxy-revalidate (§5.2.2.10)', input: { headers: ['cache-control', 'max-age=100, s-maxage=10'] }, expected: { lifetimeMs: 10 * S, mustRevalidate: true } },
  { name: '§4.2.1 max-age', input: { headers: ['cache-control', 'max-age=100'] }, expected: { lifetimeMs: 100 * S, mustRevalidate: false, noCache: false } },
  { name: '§4.2.1 Expires − Date', input: { headers: ['date', http(T0), 'expires', http(T0 + 90 * S)] }, expected: { lifetimeMs: 90 * S } },
  { name: '§4.2.1 Expires without Date uses the response time', input: { headers: ['expires', http(T0 + 90 * S)] }, expected: { lifetimeMs: 90 * S } },
  { name: '§5.3 Expires in the past', input: { headers: ['date', http(T0), 'expires', http(T0 - 90 * S)] }, expected: { lifetimeMs: 0 } },
  { name: '§5.3 invalid Expires is already expired', input: { headers: ['expires', '0'] }, expected: { lifetimeMs: 0 } },
  { name: '§4.2.2 heuristic lifetime', input: { headers: ['date', http(T0), 'last-modified', http(T0 - 10 * H)] }, expected: { lifetimeMs: H, lastModified: http(T0 - 10 * H) } },
  { name: '§4.2.2 Last-Modified after Date: no heuristic lifetime', input: { headers: ['date', http(T0), 'last-modified', http(T0 + H)] }, expected: { lifetimeMs: 0 } },
  { name: 'RFC 5861 stale-while-revalidate and stale-if-error', input: { headers: ['cache-control', 'max-age=1, stale-while-revalidate=30, stale-if-error=600'] }, expected: { swrMs: 30 * S, sieMs: 600 * S } },
  { name: '§5.2.2.2 must-revalidate', input: { headers: ['cache-control', 'max-age=1, must-revalidate'] }, expected: { mustRevalidate: true } },
  { name: '§5.2.2.8 proxy-revalidate', input: { headers: ['cache-control', 'max-age=1, proxy-revalidate'] }, expected: { mustRevalidate: true } },
  { name: '§5.2.2.4 no-cache with field names is whole-response no-cache', input: { headers: ['cache-control', 'no-cache="set-cookie", max-age=60'] }, expected: { noCache: true } },
  { name: 'validators', input: { headers: ['etag', 'W/"v1"', 'last-modified', 'Sun, 06 Nov 1994 08:49:37 GMT'] }, expected: { etag: 'W/"v1"', lastModified: 'Sun, 06 Nov 1994 08:49:37 GMT' } },
  { name: 'no validators', input: { headers: ['cache-control', 'max-age=1'] }, expected: { etag: undefined, lastModified: undefined } },
  { name: 'an invalid Last-Modified is no validator', input: { headers: ['cache-control', 'max-age=1', 'last-modified', 'yesterday'] }, expected: { lastModified: undefined } },
  { name: 'tags: Surrogate-Key on spaces, Cache-Tag on commas, trimmed, deduped', input: { headers: ['surrogate-key', 'a b  c a', 'cache-tag', ' c, d ,e,,'] }, expected: { tags: ['a', 'b', 'c', 'd', 'e'] } },
  { name: 'tags: several Surrogate-Key and Cache-Tag lines', input: { headers: ['surrogate-key', 'a', 'surrogate-key', 'b', 'cache-tag', 'x', 'cache-tag', 'y'] }, expected: { tags: ['a', 'b', 'x', 'y'] } },
  { name: '§4.1 Vary names lower-case and sorted', input: { headers: ['vary', 'User-Agent', 'vary', 'Accept-Encoding'] }, expected: { vary: ['accept-encoding', 'user-agent'] } },
  {
    name: '§3.1 only end-to-end fields are stored (RFC 9110 §7.6.1)',
    input: {
      headers: [
        'connection', 'close, X-Secret', 'x-secret', 's', 'keep-alive', 'timeout=5', 'transfer-encoding', 'chunked', 'content-length', '3',
        'date', http(T0), 'age', '1', 'set-cookie', 'a=1', 'proxy-authenticate', 'Basic', 'trailer', 'x', 'upgrade', 'h2c',
        'content-type', 'text/plain', 'etag', '"v1"', 'proxy-connection', 'keep-alive', 'te', 'trailers'
      ]
    },
    expected: { headers: ['content-type', 'text/plain', 'etag', '"v1"'] }
  },
  { name: 'Set-Cookie kept when allowed', input: { keepSetCookie: true, headers: ['set-cookie', 'a=1', 'content-type', 'text/plain'] }, expected: { headers: ['set-cookie', 'a=1', 'content-type', 'text/plain'] } },
  { name: 'times, status and url are kept', input: { headers: [], requestTime: T0 - 5, responseTime: T0 }, expected: { requestTime: T0 - 5, responseTime: T0, status: 200, url: 'a.test/x' } }
]

for (const c of buildCases) {
  test(`buildEntry: ${c.name}`, () => {
    const i = c.input
    const e = buildEntry({
      status: 200,
      responseHeaders: i.headers,
      body: new Uint8Array([1, 2, 3]),
      requestTime: i.requestTime ?? T0,
      responseTime: i.responseTime ?? T0,
      url: 'a.test/x',
      requestHeader: lookup({}),
      ...(i.keepSetCookie === undefined ? {} : { keepSetCookie: i.keepSetCookie })
    })
    for (const k of Object.keys(c.expected) as Array<keyof CacheEntry>) assert.deepEqual(e[k], c.expected[k], k)
    assert.deepEqual(e.body, new Uint8Array([1, 2, 3]))
  })
}

// ── currentAgeMs, ageSeconds, responseHeaders ───────────────────────────────────────────────────────────────────

const ageCases: Array<{ name: string, input: { initialAgeMs: number, now: number }, expected: { ms: number, header: string } }> = [
  { name: '§4.2.3 corrected initial age plus resident time', input: { initialAgeMs: 5 * S, now: T0 + 10 * S }, expected: { ms: 15 * S, header: '15' } },
  { name: '§5.1 Age is whole seconds, rounded down', input: { initialAgeMs: 1500, now: T0 + 1200 }, expected: { ms: 2700, header: '2' } },
  { name: 'a clock before the response time adds no resident time', input: { initialAgeMs: 3 * S, now: T0 - 60 * S }, expected: { ms: 3 * S, header: '3' } },
  { name: '§1.2.2 Age is capped at 2^31', input: { initialAgeMs: 3e12, now: T0 }, expected: { ms: 3e12, header: '2147483648' } }
]

for (const c of ageCases) {
  test(`currentAgeMs / responseHeaders: ${c.name}`, () => {
    const e = entry({ initialAgeMs: c.input.initialAgeMs, headers: ['content-type', 'text/plain'] })
    assert.equal(currentAgeMs(e, c.input.now), c.expected.ms)
    assert.equal(ageSeconds(e, c.input.now), Number(c.expected.header))
    assert.deepEqual(responseHeaders(e, c.input.now), ['content-type', 'text/plain', 'age', c.expected.header])
    assert.deepEqual(e.headers, ['content-type', 'text/plain'], 'the stored list is not mutated')
  })
}

// ── usability ────────────────────────────────────────────────────────────────────────────────────────────────────

const useCases: Array<{ name: string, input: { entry: Partial<CacheEntry>, request: Partial<RequestPolicy>, ageS: number }, expected: Usability }> = [
  { name: '§4.2 fresh', input: { entry: {}, request: {}, ageS: 59 }, expected: 'fresh' },
  { name: '§4.2 stale once age reaches the lifetime', input: { entry: {}, request: {}, ageS: 60 }, expected: 'revalidate' },
  { name: '§4.2.3 the initial age counts', input: { entry: { initialAgeMs: 50 * S }, request: {}, ageS: 15 }, expected: 'revalidate' },
  { name: '§5.2.2.4 response no-cache: revalidate even when fresh', input: { entry: { noCache: true }, request: {}, ageS: 0 }, expected: 'revalidate' },
  { name: '§5.2.1.4 request no-cache (or Pragma, or max-age=0): revalidate', input: { entry: {}, request: { noCache: true }, ageS: 0 }, expected: 'revalidate' },
  { name: '§5.2.1.1 request max-age exceeded', input: { entry: {}, request: { maxAgeMs: 30 * S }, ageS: 40 }, expected: 'revalidate' },
  { name: '§5.2.1.1 request max-age respected', input: { entry: {}, request: { maxAgeMs: 30 * S }, ageS: 20 }, expected: 'fresh' },
  { name: '§5.2.1.3 min-fresh not met', input: { entry: {}, request: { minFreshMs: 10 * S }, ageS: 55 }, expected: 'revalidate' },
  { name: '§5.2.1.3 min-fresh exactly met', input: { entry: {}, request: { minFreshMs: 10 * S }, ageS: 50 }, expected: 'fresh' },
  { name: '§5.2.1.2 max-stale allows a stale entry', input: { entry: {}, request: { maxStaleMs: 30 * S }, ageS: 80 }, expected: 'fresh' },
  { name: '§5.2.1.2 max-stale exceeded', input: { entry: {}, request: { maxStaleMs: 30 * S }, ageS: 100 }, expected: 'revalidate' },
  { name: '§5.2.1.2 max-stale without a value', input: { entry: {}, request: { maxStaleMs: Infinity }, ageS: 1e6 }, expected: 'fresh' },
  { name: '§5.2.2.2 must-revalidate blocks max-stale', input: { entry: { mustRevalidate: true }, request: { maxStaleMs: Infinity }, ageS: 61 }, expected: 'revalidate' },
  { name: 'RFC 5861 §3 inside stale-while-revalidate', input: { entry: { swrMs: 30 * S }, request: {}, ageS: 70 }, expected: 'stale-while-revalidate' },
  { name: 'RFC 5861 §3 past stale-while-revalidate', input: { entry: { swrMs: 30 * S }, request: {}, ageS: 90 }, expected: 'revalidate' },
  { name: '§5.2.2.2 must-revalidate blocks stale-while-revalidate', input: { entry: { swrMs: 30 * S, mustRevalidate: true }, request: {}, ageS: 70 }, expected: 'revalidate' },
  { name: '§5.2.1.4 request no-cache blocks stale-while-revalidate', input: { entry: { swrMs: 30 * S }, request: { noCache: true }, ageS: 70 }, expected: 'revalidate' },
  { name: '§5.2.2.4 response no-cache blocks stale-while-revalidate', input: { entry: { swrMs: 30 * S, noCache: true }, request: {}, ageS: 70 }, expected: 'revalidate' },
  { name: '§5.2.1.3 min-fresh blocks stale-while-revalidate', input: { entry: { swrMs: 30 * S }, request: { minFreshMs: S }, ageS: 70 }, expected: 'revalidate' },
  { name: '§5.2.1.2 max-stale answers before stale-while-revalidate', input: { entry: { swrMs: 30 * S }, request: { maxStaleMs: 30 * S }, ageS: 70 }, expected: 'fresh' },
  { name: '§5.2.1.7 only-if-cached does not change usability (the stage answers 504)', input: { entry: {}, request: { onlyIfCached: true }, ageS: 70 }, expected: 'revalidate' }
]

for (const c of useCases) {
  test(`usability: ${c.name}`, () => {
    assert.equal(usability(entry(c.input.entry), req(c.input.request), T0 + c.input.ageS * S), c.expected)
  })
}

// ── servableOnError ──────────────────────────────────────────────────────────────────────────────────────────────

const errorCases: Array<{ name: string, input: { entry: Partial<CacheEntry>, ageS: number }, expected: boolean }> = [
  { name: 'RFC 5861 §4 inside stale-if-error', input: { entry: { sieMs: 300 * S }, ageS: 200 }, expected: true },
  { name: 'RFC 5861 §4 at the edge of stale-if-error', input: { entry: { sieMs: 300 * S }, ageS: 360 }, expected: true },
  { name: 'RFC 5861 §4 past stale-if-error', input: { entry: { sieMs: 300 * S }, ageS: 400 }, expected: false },
  { name: 'RFC 5861 §4 no stale-if-error', input: { entry: {}, ageS: 61 }, expected: false },
  { name: '§5.2.2.2 must-revalidate blocks stale-if-error', input: { entry: { sieMs: 300 * S, mustRevalidate: true }, ageS: 100 }, expected: false },
  { name: '§5.2.2.4 no-cache blocks stale-if-error', input: { entry: { sieMs: 300 * S, noCache: true }, ageS: 100 }, expected: false },
  { name: 'a fresh entry with stale-if-error', input: { entry: { sieMs: 300 * S }, ageS: 10 }, expected: true }
]

for (const c of errorCases) {
  test(`servableOnError: ${c.name}`, () => {
    assert.equal(servableOnError(entry(c.input.entry), T0 + c.input.ageS * S), c.expected)
  })
}

// ── notModified ──────────────────────────────────────────────────────────────────────────────────────────────────

const LM = 'Sun, 06 Nov 1994 08:49:37 GMT'
const conditionalCases: Array<{ name: string, input: { headers: Record<string, string>, entry: Partial<CacheEntry> }, expected: boolean }> = [
  { name: 'no conditional', input: { headers: {}, entry: { etag: '"a"', lastModified: LM } }, expected: false },
  { name: 'RFC 9110 §13.1.2 If-None-Match strong match', input: { headers: { 'if-none-match': '"a"' }, entry: { etag: '"a"' } }, expected: true },
  { name: 'RFC 9110 §8.8.3.2 weak comparison: W/ in the request', input: { headers: { 'if-none-match': 'W/"a"' }, entry: { etag: '"a"' } }, expected: true },
  { name: 'RFC 9110 §8.8.3.2 weak comparison: W/ in the entry', input: { headers: { 'if-none-match': '"a"' }, entry: { etag: 'W/"a"' } }, expected: true },
  { name: 'RFC 9110 §13.1.2 a list with a match', input: { headers: { 'if-none-match': '"x", W/"a" ,"y"' }, entry: { etag: '"a"' } }, expected: true },
  { name: 'RFC 9110 §13.1.2 a list without a match', input: { headers: { 'if-none-match': '"x", "y"' }, entry: { etag: '"a"' } }, expected: false },
  { name: 'a quoted comma inside an entity-tag', input: { headers: { 'if-none-match': '"a,b"' }, entry: { etag: '"a,b"' } }, expected: true },
  { name: 'a prefix is not a match', input: { headers: { 'if-none-match': '"ab"' }, entry: { etag: '"a"' } }, expected: false },
  { name: 'RFC 9110 §13.1.2 * matches', input: { headers: { 'if-none-match': '*' }, entry: { etag: '"a"' } }, expected: true },
  { name: 'RFC 9110 §13.1.2 * matches an entry without an ETag', input: { headers: { 'if-none-match': ' * ' }, entry: {} }, expected: true },
  { name: 'If-None-Match against an entry without an ETag', input: { headers: { 'if-none-match': '"a"' }, entry: {} }, expected: false },
  { name: 'RFC 9110 §13.1.3 If-None-Match takes precedence over If-Modified-Since', input: { headers: { 'if-none-match': '"x"', 'if-modified-since': LM }, entry: { etag: '"a"', lastModified: LM } }, expected: false },
  { name: 'RFC 9110 §13.1.3 If-Modified-Since equal to Last-Modified', input: { headers: { 'if-modified-since': LM }, entry: { lastModified: LM } }, expected: true },
  { name: 'RFC 9110 §13.1.3 If-Modified-Since after Last-Modified', input: { headers: { 'if-modified-since': http(T0) }, entry: { lastModified: LM } }, expected: true },
  { name: 'RFC 9110 §13.1.3 modified since', input: { headers: { 'if-modified-since': LM }, entry: { lastModified: http(T0) } }, expected: false },
  { name: 'If-Modified-Since is never compared with the response time', input: { headers: { 'if-modified-since': http(T0 + H) }, entry: {} }, expected: false },
  { name: 'RFC 9110 §13.1.3 an invalid If-Modified-Since is ignored', input: { headers: { 'if-modified-since': 'yesterday' }, entry: { lastModified: LM } }, expected: false },
  { name: 'only 200 entries answer 304', input: { headers: { 'if-none-match': '"a"' }, entry: { status: 404, etag: '"a"' } }, expected: false }
]

for (const c of conditionalCases) {
  test(`notModified: ${c.name}`, () => {
    assert.equal(notModified(lookup(c.input.headers), entry(c.input.entry)), c.expected)
  })
}

// ── etagListMatches ──────────────────────────────────────────────────────────────────────────────────────────────

const tagCases: Array<{ name: string, input: { list: string, etag: string, strong: boolean }, expected: boolean }> = [
  { name: 'RFC 9110 §8.8.3.2 strong comparison: both strong and equal', input: { list: '"a"', etag: '"a"', strong: true }, expected: true },
  { name: 'RFC 9110 §8.8.3.2 strong comparison: a weak list member', input: { list: 'W/"a"', etag: '"a"', strong: true }, expected: false },
  { name: 'RFC 9110 §8.8.3.2 strong comparison: a weak entry tag', input: { list: '"a"', etag: 'W/"a"', strong: true }, expected: false },
  { name: 'RFC 9110 §8.8.3.2 weak comparison: both weak', input: { list: 'W/"a"', etag: 'W/"a"', strong: false }, expected: true },
  { name: 'tags are case-sensitive', input: { list: '"A"', etag: '"a"', strong: false }, expected: false },
  { name: 'an unquoted (non-conforming) tag compares as sent', input: { list: 'abc, def', etag: 'def', strong: false }, expected: true },
  { name: 'an unterminated quote does not match', input: { list: '"a', etag: '"a"', strong: false }, expected: false }
]

for (const c of tagCases) {
  test(`etagListMatches: ${c.name}`, () => {
    assert.equal(etagListMatches(c.input.list, c.input.etag, c.input.strong), c.expected)
  })
}

// ── revalidationHeaders ──────────────────────────────────────────────────────────────────────────────────────────

const revalCases: Array<{ name: string, input: Partial<CacheEntry>, expected: string[] }> = [
  { name: '§4.3.1 both validators', input: { etag: 'W/"a"', lastModified: LM }, expected: ['if-none-match', 'W/"a"', 'if-modified-since', LM] },
  { name: '§4.3.1 ETag only', input: { etag: '"a"' }, expected: ['if-none-match', '"a"'] },
  { name: '§4.3.1 Last-Modified only', input: { lastModified: LM }, expected: ['if-modified-since', LM] },
  { name: 'no validators', input: {}, expected: [] }
]

for (const c of revalCases) {
  test(`revalidationHeaders: ${c.name}`, () => {
    assert.deepEqual(revalidationHeaders(entry(c.input)), c.expected)
  })
}

// ── refreshFrom304 ───────────────────────────────────────────────────────────────────────────────────────────────

const stored = buildEntry({
  status: 200,
  responseHeaders: ['date', http(T0), 'cache-control', 'max-age=60', 'etag', '"v1"', 'content-type', 'text/plain', 'content-encoding', 'gzip', 'x-old', '1', 'vary', 'accept-encoding', 'cache-tag', 't1'],
  body: new Uint8Array([7]),
  requestTime: T0,
  responseTime: T0,
  url: 'a.test/x',
  requestHeader: lookup({})
})
const R = T0 + 120 * S // the revalidation's response time

const refreshCases: Array<{ name: string, input: string[], expected: Partial<CacheEntry> }> = [
  {
    name: '§4.3.4 a 304 with new Cache-Control replaces it and freshness is recomputed',
    input: ['date', http(R), 'cache-control', 'max-age=300, stale-if-error=10'],
    expected: {
      lifetimeMs: 300 * S, sieMs: 10 * S, initialAgeMs: S, requestTime: R - S, responseTime: R, etag: '"v1"',
      headers: ['etag', '"v1"', 'content-type', 'text/plain', 'content-encoding', 'gzip', 'x-old', '1', 'vary', 'accept-encoding', 'cache-tag', 't1', 'cache-control', 'max-age=300, stale-if-error=10']
    }
  },
  { name: '§4.3.4 a bare 304 keeps the stored Cache-Control and restarts the clock', input: [], expected: { lifetimeMs: 60 * S, initialAgeMs: S, responseTime: R } },
  { name: '§4.2.3 the 304\'s own Date and Age set the new initial age', input: ['date', http(R - 20 * S), 'age', '5'], expected: { initialAgeMs: 20 * S } },
  { name: '§4.3.4 a new ETag and Last-Modified', input: ['etag', '"v2"', 'last-modified', LM], expected: { etag: '"v2"', lastModified: LM } },
  { name: '§4.3.4 a new no-cache / must-revalidate', input: ['cache-control', 'no-cache, must-revalidate'], expected: { noCache: true, mustRevalidate: true, lifetimeMs: 0 } },
  { name: '§4.3.4 new purge tags', input: ['cache-tag', 't2, t3'], expected: { tags: ['t2', 't3'] } },
  {
    name: '§3.2 framing, coding, Set-Cookie, Vary and hop-by-hop fields are not updated',
    input: ['content-length', '0', 'content-encoding', 'br', 'set-cookie', 'a=1', 'vary', 'user-agent', 'connection', 'x-hop', 'x-hop', '1', 'transfer-encoding', 'chunked', 'x-old', '2'],
    expected: {
      vary: ['accept-encoding'],
      headers: ['cache-control', 'max-age=60', 'etag', '"v1"', 'content-type', 'text/plain', 'content-encoding', 'gzip', 'vary', 'accept-encoding', 'cache-tag', 't1', 'x-old', '2']
    }
  },
  { name: 'all lines of a replaced field go', input: ['x-old', 'a', 'x-old', 'b'], expected: { headers: ['cache-control', 'max-age=60', 'etag', '"v1"', 'content-type', 'text/plain', 'content-encoding', 'gzip', 'vary', 'accept-encoding', 'cache-tag', 't1', 'x-old', 'a', 'x-old', 'b'] } }
]

for (const c of refreshCases) {
  test(`refreshFrom304: ${c.name}`, () => {
    const e = refreshFrom304(stored, c.input, R - S, R)
    for (const k of Object.keys(c.expected) as Array<keyof CacheEntry>) assert.deepEqual(e[k], c.expected[k], k)
    assert.equal(e.body, stored.body)
    assert.equal(e.status, 200)
    assert.equal(e.url, 'a.test/x')
  })
}

// ── entryTtlMs ───────────────────────────────────────────────────────────────────────────────────────────────────

const ttlCases: Array<{ name: string, input: { entry: Partial<CacheEntry>, ageS: number }, expected: number }> = [
  { name: 'the rest of the lifetime', input: { entry: {}, ageS: 20 }, expected: 40 * S },
  { name: 'plus the stale window', input: { entry: { swrMs: 30 * S, sieMs: 10 * S }, ageS: 20 }, expected: 70 * S },
  { name: 'must-revalidate drops the stale window', input: { entry: { swrMs: 30 * S, mustRevalidate: true }, ageS: 20 }, expected: 40 * S },
  { name: 'a validator adds the keep time', input: { entry: { etag: '"a"' }, ageS: 20 }, expected: 40 * S + REVALIDATE_KEEP_MS },
  { name: 'stale without a validator: nothing left', input: { entry: {}, ageS: 90 }, expected: 0 }
]

for (const c of ttlCases) {
  test(`entryTtlMs: ${c.name}`, () => {
    assert.equal(entryTtlMs(entry(c.input.entry), T0 + c.input.ageS * S), c.expected)
  })
}

// ── secondaryKey ─────────────────────────────────────────────────────────────────────────────────────────────────

const keyCases: Array<{ name: string, input: { vary: string[], headers: Record<string, string> }, expected: string }> = [
  { name: 'no Vary: empty key', input: { vary: [], headers: { accept: 'x' } }, expected: '' },
  { name: '§4.1 an absent field is only its name', input: { vary: ['accept-encoding'], headers: {} }, expected: 'accept-encoding' },
  { name: '§4.1 an empty field differs from an absent one', input: { vary: ['accept-encoding'], headers: { 'accept-encoding': '' } }, expected: 'accept-encoding:' },
  { name: '§4.1 Accept-Encoding lower-cased, list whitespace dropped', input: { vary: ['accept-encoding'], headers: { 'accept-encoding': ' GZIP ,  br ' } }, expected: 'accept-encoding:gzip,br' },
  { name: '§4.1 Accept-Language lower-cased', input: { vary: ['accept-language'], headers: { 'accept-language': 'en-GB, fr;q=0.5' } }, expected: 'accept-language:en-gb,fr;q=0.5' },
  { name: '§4.1 other fields keep case; whitespace runs collapse', input: { vary: ['user-agent'], headers: { 'user-agent': ' Mozilla/5.0 \t (X11) ' } }, expected: 'user-agent:Mozilla/5.0 (X11)' },
  { name: 'Cookie keeps its case', input: { vary: ['cookie'], headers: { cookie: 'A=B; c=D' } }, expected: 'cookie:A=B; c=D' },
  { name: 'several fields, one line each, in the given order', input: { vary: ['accept', 'x-tenant'], headers: { accept: 'Text/HTML', 'x-tenant': 'Blue' } }, expected: 'accept:text/html\nx-tenant:Blue' },
  { name: 'member order is kept (not reordered)', input: { vary: ['accept-encoding'], headers: { 'accept-encoding': 'br, gzip' } }, expected: 'accept-encoding:br,gzip' }
]

for (const c of keyCases) {
  test(`secondaryKey: ${c.name}`, () => {
    assert.equal(secondaryKey(c.input.vary, lookup(c.input.headers)), c.expected)
  })
}
