// The HTTP cache against a real backend that counts requests, as a table of RFC 9111 cases: what is stored, what
// is served from where (X-Cache), revalidation, client conditionals, stale-while-revalidate and stale-if-error, Vary,
// Authorization, Set-Cookie, max_object, HEAD and Range. One proxy (1 worker, so which copy answers is known; the
// embedded shared level behind it) for all; cache-shared.test.ts runs two instances × 2 workers on Redis.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingHttpHeaders } from 'node:http'
import { connect } from 'node:net'
import { startBackend, startProxy, request, rawRequest, headerValues, closedWithin, waitFor, type ProxyHandle, type RawResponse } from '../helpers/index.ts'

interface Answer { status?: number, headers?: Record<string, string>, body?: string }
/** What the backend answers the n-th request (1-based) for the case's path. */
type Respond = (n: number, headers: IncomingHttpHeaders) => Answer

interface Step {
  readonly method?: string
  readonly headers?: Record<string, string>
  readonly status: number
  /** X-Cache expected; null: absent. */
  readonly xcache?: string | null
  readonly body?: string
  /** Response header values expected (lower-case names). */
  readonly has?: Record<string, string>
  /** Backend requests for this path after the step (polled when `eventually`). */
  readonly backend?: number
  /** The methods the backend saw for this path so far, in order. */
  readonly backendMethods?: readonly string[]
  readonly eventually?: boolean
  /** Run before the step. */
  readonly check?: (seen: IncomingHttpHeaders[]) => void
}

interface Case { readonly name: string, readonly path: string, readonly respond: Respond, readonly steps: readonly Step[] }

const past = new Date(Date.now() - 3600_000).toUTCString()
const future = new Date(Date.now() + 3600_000).toUTCString()
const lastModified = new Date(Date.now() - 86_400_000).toUTCString()
const ok = (headers: Record<string, string>, body = 'hello'): Respond => () => ({ headers, body })

const cases: Case[] = [
  {
    name: 'max-age: stored on a miss, then a hit without the backend',
    path: '/max-age',
    respond: ok({ 'cache-control': 'max-age=60' }),
    steps: [
      { status: 200, xcache: 'MISS', body: 'hello', backend: 1 },
      { status: 200, xcache: 'HIT', body: 'hello', backend: 1 },
      { status: 200, xcache: 'HIT', body: 'hello', backend: 1 }
    ]
  },
  {
    name: 's-maxage wins over max-age=0 for a shared cache',
    path: '/s-maxage',
    respond: ok({ 'cache-control': 'max-age=0, s-maxage=60' }),
    steps: [{ status: 200, xcache: 'MISS', backend: 1 }, { status: 200, xcache: 'HIT', backend: 1 }]
  },
  {
    name: 'no-store in the response: never stored',
    path: '/no-store',
    respond: ok({ 'cache-control': 'no-store, max-age=60' }),
    steps: [{ status: 200, xcache: 'MISS', backend: 1 }, { status: 200, xcache: 'MISS', backend: 2 }]
  },
  {
    name: 'private: never stored by a shared cache',
    path: '/private',
    respond: ok({ 'cache-control': 'private, max-age=60' }),
    steps: [{ status: 200, xcache: 'MISS', backend: 1 }, { status: 200, xcache: 'MISS', backend: 2 }]
  },
  {
    name: 'no-cache in the response: stored, revalidated before each use; a 304 serves the entry',
    path: '/no-cache',
    respond: (n, h) => n === 1 || h['if-none-match'] !== '"v1"'
      ? { headers: { 'cache-control': 'no-cache, max-age=60', etag: '"v1"' }, body: `body ${n}` }
      : { status: 304, headers: { 'cache-control': 'no-cache, max-age=60', etag: '"v1"' } },
    steps: [
      { status: 200, xcache: 'MISS', body: 'body 1', backend: 1 },
      { status: 200, xcache: 'HIT', body: 'body 1', backend: 2 },
      { status: 200, xcache: 'HIT', body: 'body 1', backend: 3, check: (seen) => { assert.equal(seen.at(-1)?.['if-none-match'], '"v1"') } }
    ]
  },
  {
    name: 'a stale entry is revalidated with its ETag; the 304 refreshes it',
    path: '/etag-304',
    respond: (n) => n === 1
      ? { headers: { 'cache-control': 'max-age=60', age: '61', etag: '"e1"' }, body: 'etagged' }
      : { status: 304, headers: { 'cache-control': 'max-age=60', etag: '"e1"' } },
    steps: [
      { status: 200, xcache: 'MISS', body: 'etagged', backend: 1 },
      { status: 200, xcache: 'HIT', body: 'etagged', backend: 2 },
      { status: 200, xcache: 'HIT', body: 'etagged', backend: 2, check: (seen) => { assert.equal(seen[1]?.['if-none-match'], '"e1"') } }
    ]
  },
  {
    name: 'a stale entry with Last-Modified is revalidated with If-Modified-Since; a 200 replaces it',
    path: '/lm-200',
    respond: (n) => n === 1
      ? { headers: { 'cache-control': 'max-age=60', age: '100', 'last-modified': lastModified }, body: 'old' }
      : { headers: { 'cache-control': 'max-age=60', 'last-modified': lastModified }, body: 'new' },
    steps: [
      { status: 200, xcache: 'MISS', body: 'old', backend: 1 },
      { status: 200, xcache: 'MISS', body: 'new', backend: 2, check: (seen) => { assert.equal(seen[1], undefined) } },
      { status: 200, xcache: 'HIT', body: 'new', backend: 2, check: (seen) => { assert.equal(seen[1]?.['if-modified-since'], lastModified) } }
    ]
  },
  {
    name: 'Expires in the future (no max-age): stored',
    path: '/expires',
    respond: ok({ expires: future, date: new Date().toUTCString() }),
    steps: [{ status: 200, xcache: 'MISS', backend: 1 }, { status: 200, xcache: 'HIT', backend: 1 }]
  },
  {
    name: 'Expires in the past: stale on arrival, not stored',
    path: '/expired',
    respond: ok({ expires: past }),
    steps: [{ status: 200, xcache: 'MISS', backend: 1 }, { status: 200, xcache: 'MISS', backend: 2 }]
  },
  {
    name: 'Age from the backend counts: a hit says at least that Age',
    path: '/age',
    respond: ok({ 'cache-control': 'max-age=600', age: '300' }),
    steps: [{ status: 200, xcache: 'MISS', backend: 1 }, { status: 200, xcache: 'HIT', has: { age: '300' }, backend: 1 }]
  },
  {
    name: 'Vary: one entry per variant',
    path: '/vary',
    respond: (_n, h) => ({ headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' }, body: `lang ${String(h['accept-language'])}` }),
    steps: [
      { headers: { 'accept-language': 'en' }, status: 200, xcache: 'MISS', body: 'lang en', backend: 1 },
      { headers: { 'accept-language': 'fr' }, status: 200, xcache: 'MISS', body: 'lang fr', backend: 2 },
      { headers: { 'accept-language': 'en' }, status: 200, xcache: 'HIT', body: 'lang en', backend: 2 },
      { headers: { 'accept-language': 'fr' }, status: 200, xcache: 'HIT', body: 'lang fr', backend: 2 }
    ]
  },
  {
    name: 'Authorization without public or s-maxage: not stored',
    path: '/auth-private',
    respond: ok({ 'cache-control': 'max-age=60' }),
    steps: [
      { headers: { authorization: 'Bearer a' }, status: 200, xcache: 'MISS', backend: 1 },
      { headers: { authorization: 'Bearer a' }, status: 200, xcache: 'MISS', backend: 2 }
    ]
  },
  {
    name: 'Authorization with public: stored',
    path: '/auth-public',
    respond: ok({ 'cache-control': 'public, max-age=60' }),
    steps: [
      { headers: { authorization: 'Bearer a' }, status: 200, xcache: 'MISS', backend: 1 },
      { headers: { authorization: 'Bearer a' }, status: 200, xcache: 'HIT', backend: 1 }
    ]
  },
  {
    name: 'Set-Cookie: not stored by default',
    path: '/cookie',
    respond: ok({ 'cache-control': 'max-age=60', 'set-cookie': 'a=1' }),
    steps: [{ status: 200, xcache: 'MISS', backend: 1 }, { status: 200, xcache: 'MISS', backend: 2 }]
  },
  {
    name: 'Set-Cookie on a route with store_set_cookie: stored with the cookie',
    path: '/sc/cookie',
    respond: ok({ 'cache-control': 'max-age=60', 'set-cookie': 'a=1' }),
    steps: [{ status: 200, xcache: 'MISS', backend: 1 }, { status: 200, xcache: 'HIT', has: { 'set-cookie': 'a=1' }, backend: 1 }]
  },
  {
    name: 'client If-None-Match matching the entry: 304 from the cache',
    path: '/inm',
    respond: ok({ 'cache-control': 'max-age=60', etag: '"abc"' }),
    steps: [
      { status: 200, xcache: 'MISS', backend: 1 },
      { headers: { 'if-none-match': '"abc"' }, status: 304, xcache: 'HIT', body: '', has: { etag: '"abc"' }, backend: 1 },
      { headers: { 'if-none-match': '"other"' }, status: 200, xcache: 'HIT', body: 'hello', backend: 1 }
    ]
  },
  {
    name: 'client If-Modified-Since at or after Last-Modified: 304 from the cache',
    path: '/ims',
    respond: ok({ 'cache-control': 'max-age=60', 'last-modified': lastModified }),
    steps: [
      { status: 200, xcache: 'MISS', backend: 1 },
      { headers: { 'if-modified-since': new Date().toUTCString() }, status: 304, xcache: 'HIT', backend: 1 },
      { headers: { 'if-modified-since': past.replace(/\d{4}/, '1999') }, status: 200, xcache: 'HIT', backend: 1 }
    ]
  },
  {
    name: 'stale-while-revalidate: the stale entry is served at once and refreshed once in the background',
    path: '/swr',
    respond: (n) => ({ headers: { 'cache-control': 'max-age=60, stale-while-revalidate=600', ...(n === 1 ? { age: '61' } : {}) }, body: `v${n}` }),
    steps: [
      { status: 200, xcache: 'MISS', body: 'v1', backend: 1 },
      { status: 200, xcache: 'STALE', body: 'v1', backend: 2, eventually: true },
      { status: 200, xcache: 'HIT', body: 'v2', backend: 2 }
    ]
  },
  {
    name: 'stale-if-error: a 500 from the backend is replaced by the stale entry',
    path: '/sie',
    respond: (n) => n === 1
      ? { headers: { 'cache-control': 'max-age=60, stale-if-error=600', age: '61', etag: '"s"' }, body: 'good' }
      : { status: 500, body: 'broken' },
    steps: [{ status: 200, xcache: 'MISS', body: 'good', backend: 1 }, { status: 200, xcache: 'STALE', body: 'good', backend: 2 }]
  },
  {
    name: 'must-revalidate: a 500 is passed on, never the stale entry',
    path: '/must-revalidate',
    respond: (n) => n === 1
      ? { headers: { 'cache-control': 'max-age=60, must-revalidate, stale-if-error=600', age: '61', etag: '"m"' }, body: 'good' }
      : { status: 500, body: 'broken' },
    steps: [{ status: 200, xcache: 'MISS', body: 'good', backend: 1 }, { status: 500, xcache: 'MISS', body: 'broken', backend: 2 }]
  },
  {
    name: 'proxy-revalidate: like must-revalidate for a shared cache, no stale-if-error',
    path: '/proxy-revalidate',
    respond: (n) => n === 1
      ? { headers: { 'cache-control': 'max-age=60, proxy-revalidate, stale-if-error=600', age: '61', etag: '"p"' }, body: 'good' }
      : { status: 503, body: 'down' },
    steps: [{ status: 200, xcache: 'MISS', body: 'good', backend: 1 }, { status: 503, body: 'down', backend: 2 }]
  },
  {
    name: 's-maxage forbids serving stale (RFC 9111 §5.2.2.10): stale-while-revalidate is not used',
    path: '/s-maxage-stale',
    respond: (n) => ({ headers: { 'cache-control': 's-maxage=60, stale-while-revalidate=600', ...(n === 1 ? { age: '61' } : {}), etag: '"q"' }, body: `s${n}` }),
    steps: [{ status: 200, xcache: 'MISS', body: 's1', backend: 1 }, { status: 200, xcache: 'MISS', body: 's2', backend: 2 }, { status: 200, xcache: 'HIT', body: 's2', backend: 2 }]
  },
  {
    name: 'only-if-cached: 504 without an entry, the entry once there is one',
    path: '/only-if-cached',
    respond: ok({ 'cache-control': 'max-age=60' }),
    steps: [
      { headers: { 'cache-control': 'only-if-cached' }, status: 504, backend: 0 },
      { status: 200, xcache: 'MISS', backend: 1 },
      { headers: { 'cache-control': 'only-if-cached' }, status: 200, xcache: 'HIT', backend: 1 }
    ]
  },
  {
    name: 'over max_object: streamed through whole, not stored',
    path: '/small/big',
    respond: ok({ 'cache-control': 'max-age=60' }, 'x'.repeat(5000)),
    steps: [{ status: 200, xcache: 'MISS', body: 'x'.repeat(5000), backend: 1 }, { status: 200, xcache: 'MISS', body: 'x'.repeat(5000), backend: 2 }]
  },
  {
    name: 'under max_object on the same route: stored',
    path: '/small/ok',
    respond: ok({ 'cache-control': 'max-age=60' }, 'y'.repeat(500)),
    steps: [{ status: 200, xcache: 'MISS', backend: 1 }, { status: 200, xcache: 'HIT', body: 'y'.repeat(500), backend: 1 }]
  },
  {
    name: 'HEAD (convert_head, the default): a cold HEAD is fetched as GET and stored; the GET after it is a hit',
    path: '/head',
    respond: ok({ 'cache-control': 'max-age=60' }, 'twelve bytes'),
    steps: [
      { method: 'HEAD', status: 200, xcache: 'MISS', body: '', has: { 'content-length': '12' }, backend: 1, backendMethods: ['GET'] },
      { status: 200, xcache: 'HIT', body: 'twelve bytes', backend: 1 },
      { method: 'HEAD', status: 200, xcache: 'HIT', body: '', has: { 'content-length': '12' }, backend: 1 }
    ]
  },
  {
    name: 'HEAD with convert_head off: forwarded as HEAD and not stored; a HEAD after a GET is a hit with the length and no body',
    path: '/nohead/x',
    respond: ok({ 'cache-control': 'max-age=60' }, 'twelve bytes'),
    steps: [
      { method: 'HEAD', status: 200, xcache: 'MISS', body: '', backend: 1, backendMethods: ['HEAD'] },
      { status: 200, xcache: 'MISS', body: 'twelve bytes', backend: 2, backendMethods: ['HEAD', 'GET'] },
      { method: 'HEAD', status: 200, xcache: 'HIT', body: '', has: { 'content-length': '12' }, backend: 2 }
    ]
  },
  {
    name: 'HEAD over max_object: fetched as GET, answered with the head at once, not stored',
    path: '/small/head-big',
    // With its length up front: known to be over max_object before any body byte.
    respond: ok({ 'cache-control': 'max-age=60', 'content-length': '200000' }, 'z'.repeat(200_000)),
    steps: [
      { method: 'HEAD', status: 200, xcache: 'MISS', body: '', has: { 'content-length': '200000' }, backend: 1, backendMethods: ['GET'] },
      { method: 'HEAD', status: 200, xcache: 'MISS', body: '', backend: 2 },
      { status: 200, xcache: 'MISS', body: 'z'.repeat(200_000), backend: 3 }
    ]
  },
  {
    name: 'HEAD over max_object without a length: the head goes out once the body outgrows max_object; not stored',
    path: '/small/head-chunked',
    respond: ok({ 'cache-control': 'max-age=60' }, 'w'.repeat(200_000)),
    steps: [
      { method: 'HEAD', status: 200, xcache: 'MISS', body: '', backend: 1, backendMethods: ['GET'] },
      { method: 'HEAD', status: 200, xcache: 'MISS', body: '', backend: 2 },
      { status: 200, xcache: 'MISS', body: 'w'.repeat(200_000), backend: 3 }
    ]
  },
  {
    name: 'HEAD with Range and no entry: forwarded as sent (a 206 is never stored)',
    path: '/head-range',
    respond: ok({ 'cache-control': 'max-age=60' }, 'twelve bytes'),
    steps: [
      { method: 'HEAD', headers: { range: 'bytes=0-3' }, status: 200, xcache: 'MISS', body: '', backend: 1, backendMethods: ['HEAD'] },
      { status: 200, xcache: 'MISS', backend: 2 }
    ]
  },
  {
    name: 'request no-store: the cache is bypassed',
    path: '/req-no-store',
    respond: ok({ 'cache-control': 'max-age=60' }),
    steps: [
      { status: 200, xcache: 'MISS', backend: 1 },
      { headers: { 'cache-control': 'no-store' }, status: 200, xcache: 'BYPASS', backend: 2 },
      { status: 200, xcache: 'HIT', backend: 2 }
    ]
  },
  {
    name: 'request no-cache: revalidated (the backend is asked), the response replaces the entry',
    path: '/req-no-cache',
    respond: (n) => ({ headers: { 'cache-control': 'max-age=60' }, body: `r${n}` }),
    steps: [
      { status: 200, xcache: 'MISS', body: 'r1', backend: 1 },
      { headers: { 'cache-control': 'no-cache' }, status: 200, xcache: 'MISS', body: 'r2', backend: 2 },
      { status: 200, xcache: 'HIT', body: 'r2', backend: 2 }
    ]
  },
  {
    name: 'POST: passed through untouched, no X-Cache',
    path: '/post',
    respond: ok({ 'cache-control': 'max-age=60' }),
    steps: [{ method: 'POST', status: 200, xcache: null, backend: 1 }, { method: 'POST', status: 200, xcache: null, backend: 2 }]
  },
  {
    name: 'a 500 is never stored',
    path: '/error',
    respond: () => ({ status: 500, headers: { 'cache-control': 'max-age=60' }, body: 'no' }),
    steps: [{ status: 500, xcache: 'MISS', backend: 1 }, { status: 500, xcache: 'MISS', backend: 2 }]
  },
  {
    name: 'Range on a cached object: 206 with Content-Range, 416 when unsatisfiable, If-Range mismatch gives 200, several ranges multipart',
    path: '/media',
    respond: ok({ 'cache-control': 'max-age=60', etag: '"m1"', 'content-type': 'video/mp4' }, '0123456789'),
    steps: [
      { status: 200, xcache: 'MISS', body: '0123456789', backend: 1 },
      { headers: { range: 'bytes=2-5' }, status: 206, xcache: 'HIT', body: '2345', has: { 'content-range': 'bytes 2-5/10' }, backend: 1 },
      { headers: { range: 'bytes=-3' }, status: 206, xcache: 'HIT', body: '789', has: { 'content-range': 'bytes 7-9/10' }, backend: 1 },
      { headers: { range: 'bytes=20-' }, status: 416, xcache: 'HIT', has: { 'content-range': 'bytes */10' }, backend: 1 },
      { headers: { range: 'bytes=2-5', 'if-range': '"m1"' }, status: 206, body: '2345', backend: 1 },
      { headers: { range: 'bytes=2-5', 'if-range': '"old"' }, status: 200, body: '0123456789', backend: 1 },
      {
        headers: { range: 'bytes=0-1, 7-8' },
        status: 206,
        xcache: 'HIT',
        has: { 'content-type': 'multipart/byteranges; boundary=SWITCHYARD_BYTERANGES_3d6b1f0e' },
        body: '--SWITCHYARD_BYTERANGES_3d6b1f0e\r\ncontent-type: video/mp4\r\ncontent-range: bytes 0-1/10\r\n\r\n01\r\n' +
          '--SWITCHYARD_BYTERANGES_3d6b1f0e\r\ncontent-type: video/mp4\r\ncontent-range: bytes 7-8/10\r\n\r\n78\r\n--SWITCHYARD_BYTERANGES_3d6b1f0e--\r\n',
        backend: 1
      }
    ]
  }
]

test('RFC 9111 behaviour, case by case', async (t) => {
  const counts = new Map<string, number>()
  const methods = new Map<string, string[]>()
  const seen = new Map<string, IncomingHttpHeaders[]>()
  const byPath = new Map(cases.map((c) => [c.path, c.respond]))
  const backend = await startBackend(t, (req, res) => {
    const path = req.url!.split('?')[0]!
    const n = (counts.get(path) ?? 0) + 1
    counts.set(path, n)
    methods.set(path, [...(methods.get(path) ?? []), req.method!])
    seen.set(path, [...(seen.get(path) ?? []), req.headers])
    req.resume()
    const a = byPath.get(path)?.(n, req.headers) ?? { status: 404, body: 'unknown case' }
    res.writeHead(a.status ?? 200, a.headers ?? {})
    res.end(a.status === 304 ? undefined : a.body)
  })
  const proxy: ProxyHandle = await startProxy(t, {
    workers: 1,
    log: { access: false },
    upstreams: { web: { servers: [{ url: backend.url }] } },
    routes: [
      { match: { path: '/sc/' }, upstream: 'web', cache: { store_set_cookie: true } },
      { match: { path: '/small/' }, upstream: 'web', cache: { max_object: '1kb' } },
      { match: { path: '/nohead/' }, upstream: 'web', cache: { convert_head: false } },
      { match: { path: '/' }, upstream: 'web', cache: {} }
    ]
  })
  for (const c of cases) {
    await t.test(c.name, async () => {
      for (const [i, s] of c.steps.entries()) {
        s.check?.(seen.get(c.path) ?? [])
        const r = await request(`${proxy.url}${c.path}`, { method: s.method ?? 'GET', ...(s.headers === undefined ? {} : { headers: s.headers }) })
        const what = `step ${i + 1}: ${JSON.stringify({ status: r.status, headers: r.headers, body: r.body.slice(0, 80) })}`
        assert.equal(r.status, s.status, what)
        if (s.xcache !== undefined) assert.equal(r.headers['x-cache'], s.xcache ?? undefined, what)
        if (s.body !== undefined) assert.equal(r.body, s.body, what)
        for (const [k, v] of Object.entries(s.has ?? {})) {
          const got = r.headers[k]
          if (k === 'age') assert.ok(Number(got) >= Number(v), `${what}: age ${String(got)} < ${v}`)
          else assert.equal(Array.isArray(got) ? got.join(', ') : got, v, what)
        }
        if (s.backend !== undefined) {
          if (s.eventually === true) await waitFor(() => (counts.get(c.path) ?? 0) >= s.backend!, `${c.path}: ${s.backend} backend requests`, 5000, 20)
          assert.equal(counts.get(c.path) ?? 0, s.backend, `${what}: backend requests`)
        }
        if (s.backendMethods !== undefined) assert.deepEqual(methods.get(c.path) ?? [], s.backendMethods, `${what}: methods the backend saw`)
      }
    })
  }
})

test('embedded state (no Redis): a purge through the admin API reaches both workers', async (t) => {
  let version = 1
  const backend = await startBackend(t, (req, res) => {
    req.resume()
    res.writeHead(200, { 'cache-control': 'max-age=600', 'cache-tag': 'a, b' })
    res.end(`v${version}`)
  })
  const proxy = await startProxy(t, { workers: 2, log: { access: false }, upstreams: { web: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'web', cache: {} }] })
  const h = { host: 'embedded.test' }
  // Fresh connections land on either worker: after 16 every worker holds a memory copy.
  for (let i = 0; i < 16; i++) assert.equal((await request(`${proxy.url}/thing`, { headers: h })).body, 'v1')
  version = 2
  const res = await fetch(`${proxy.adminUrl}/api/cache/purge`, { method: 'POST', body: JSON.stringify({ tag: 'b' }) })
  assert.equal(res.status, 200)
  assert.equal((await res.json() as { purged: number }).purged, 1)
  await waitFor(async () => {
    for (let i = 0; i < 8; i++) if ((await request(`${proxy.url}/thing`, { headers: h })).body !== 'v2') return false
    return true
  }, 'every worker to serve v2 after the purge', 1000, 10)
})

test('an unsafe method the backend accepts invalidates the URL (RFC 9111 §4.4); a refused one does not', async (t) => {
  let n = 0
  const backend = await startBackend(t, (req, res) => {
    req.resume()
    n++
    if (req.method === 'PUT' && req.headers['x-refuse'] === '1') { res.writeHead(403); res.end('no'); return }
    res.writeHead(200, { 'cache-control': 'max-age=600' })
    res.end(`n${n}`)
  })
  const proxy = await startProxy(t, { workers: 1, log: { access: false }, upstreams: { web: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'web', cache: {} }] })
  const get = async (): Promise<string> => (await request(`${proxy.url}/doc`)).body
  assert.equal(await get(), 'n1')
  assert.equal(await get(), 'n1')
  assert.equal((await request(`${proxy.url}/doc`, { method: 'PUT', headers: { 'x-refuse': '1' } })).status, 403)
  assert.equal(await get(), 'n1', 'a refused PUT leaves the entry')
  for (const method of ['DELETE', 'POST', 'PATCH']) {
    const cached = await get()
    const r = await request(`${proxy.url}/doc`, { method })
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-cache'], undefined)
    // The invalidation runs beside the answer: within a bounded wait the GETs stop getting the old entry.
    let fresh = ''
    await waitFor(async () => (fresh = await get()) !== cached, `${method} to invalidate /doc`, 2000, 20)
    assert.equal(fresh, `n${n}`, `after ${method}, the backend answered again`)
    const again = await request(`${proxy.url}/doc`)
    assert.deepEqual([again.body, again.headers['x-cache']], [fresh, 'HIT'], 'and that answer is cached')
  }
})

test('a reload keeps the shared level: the new generation answers from entries the old one stored', async (t) => {
  let n = 0
  const backend = await startBackend(t, (req, res) => {
    req.resume()
    res.writeHead(200, { 'cache-control': 'max-age=600' })
    res.end(`r${++n}`)
  })
  const config = { workers: 1, log: { access: false }, upstreams: { web: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'web', cache: {} }] }
  const proxy = await startProxy(t, config)
  assert.equal((await request(`${proxy.url}/kept`)).body, 'r1')
  proxy.rewrite({ ...config, cache: { memory: '8mb' } })
  const reload = await fetch(`${proxy.adminUrl}/api/reload`, { method: 'POST' })
  assert.equal(reload.status, 200, await reload.text())
  // Right after the swap a new connection may still be queued on the old worker's listening socket, which Linux
  // resets when that socket closes unless net.ipv4.tcp_migrate_req is 1 (README, Reloads and upgrades); a client
  // retries it.
  const r = await request(`${proxy.url}/kept`).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ECONNRESET') throw err
    return await request(`${proxy.url}/kept`)
  })
  assert.deepEqual([r.body, r.headers['x-cache']], ['r1', 'HIT'])
  assert.equal(n, 1)
})

test('a hit sends the stored bytes: header values outside ASCII unchanged on every kind of answer; the access log counts the body', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume()
    // Node writes header strings as latin1: one byte 0xE9 on the wire.
    res.writeHead(200, { 'cache-control': 'max-age=600', 'x-note': 'caf\u00e9', etag: '"n1"' })
    res.end('0123456789')
  })
  const proxy = await startProxy(t, { workers: 1, upstreams: { web: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'web', cache: {} }] })
  const ask = async (extra: string): Promise<RawResponse> => {
    const r = await rawRequest(proxy.port, `GET /bytes HTTP/1.1\r\nhost: bytes.test\r\nx-request-id: bytes-GET-${extra.length}\r\n${extra}\r\n`)
    r.socket.destroy()
    return r
  }
  const miss = await ask('')
  assert.deepEqual([miss.status, headerValues(miss, 'x-cache'), headerValues(miss, 'x-note')], [200, ['MISS'], ['caf\u00e9']], 'the backend sent byte 0xE9')
  const hit = await ask('')
  assert.deepEqual([hit.status, headerValues(hit, 'x-cache'), headerValues(hit, 'x-note'), hit.body.toString()], [200, ['HIT'], ['caf\u00e9'], '0123456789'])
  assert.deepEqual(headerValues(hit, 'x-request-id'), ['bytes-GET-0'])
  assert.equal(headerValues(hit, 'age').length, 1)
  const range = await ask('range: bytes=2-4\r\n')
  assert.deepEqual([range.status, headerValues(range, 'x-note'), range.body.toString()], [206, ['caf\u00e9'], '234'])
  // node:http reads header bytes as latin1 too (rawRequest would wait for the body a HEAD answer announces).
  const head = await request(`${proxy.url}/bytes`, { method: 'HEAD', headers: { host: 'bytes.test', 'x-request-id': 'bytes-HEAD-0' } })
  assert.deepEqual([head.status, head.headers['x-cache'], head.headers['x-note'], head.headers['content-length']], [200, 'HIT', 'caf\u00e9', '10'])
  const lines = await waitFor(() => {
    const a = proxy.logs.filter((l) => l.kind === 'access' && String(l.reqId).startsWith('bytes-'))
    return a.length === 4 && a
  }, 'four access lines')
  assert.deepEqual(lines.map((l) => [l.method, l.status, l.bytes]), [['GET', 200, 10], ['GET', 200, 10], ['GET', 206, 3], ['HEAD', 200, 0]])
})

test('a hit from a draining worker (during a reload) says Connection: close, and the connection closes after it', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume()
    res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': '4' })
    res.end('kept')
  })
  const proxy = await startProxy(t, { workers: 1, log: { access: false }, upstreams: { web: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'web', cache: {} }] })
  // One keep-alive connection, so every answer comes from the worker that accepted it.
  const socket = connect(proxy.port, '127.0.0.1')
  t.after(() => { socket.destroy() })
  let buf = Buffer.alloc(0)
  let wake: (() => void) | null = null
  socket.on('data', (d: Buffer) => { buf = Buffer.concat([buf, d]); wake?.() })
  const ask = async (): Promise<{ head: string, body: string }> => {
    socket.write('GET /drain HTTP/1.1\r\nhost: drain.test\r\n\r\n')
    const deadline = Date.now() + 5000
    for (;;) {
      const end = buf.indexOf('\r\n\r\n')
      const length = end < 0 ? -1 : Number(/\r\ncontent-length: *(\d+)/i.exec(buf.subarray(0, end).toString('latin1'))?.[1] ?? -1)
      if (length >= 0 && buf.length >= end + 4 + length) {
        const r = { head: buf.subarray(0, end).toString('latin1').toLowerCase(), body: buf.subarray(end + 4, end + 4 + length).toString() }
        buf = buf.subarray(end + 4 + length)
        return r
      }
      if (Date.now() > deadline) throw new Error(`no whole answer within 5 s: ${JSON.stringify(buf.toString('latin1'))}`)
      await new Promise<void>((resolve) => { wake = resolve; setTimeout(resolve, 100) })
    }
  }
  assert.match((await ask()).head, /x-cache: miss/)
  const hit = await ask()
  assert.match(hit.head, /x-cache: hit/)
  assert.doesNotMatch(hit.head, /connection: close/)
  const reload = await fetch(`${proxy.adminUrl}/api/reload`, { method: 'POST' })
  assert.equal(reload.status, 200, await reload.text())
  // The old worker hears it is draining shortly after the reload answers: ask until it says so (bounded).
  let closing: { head: string, body: string } | undefined
  for (let i = 0; i < 50 && closing === undefined; i++) {
    const r = await ask()
    assert.match(r.head, /^http\/1\.1 200/)
    assert.match(r.head, /x-cache: hit/)
    assert.equal(r.body, 'kept')
    if (/\r\nconnection: close/.test(r.head)) closing = r
    else await new Promise((resolve) => setTimeout(resolve, 20))
  }
  assert.ok(closing !== undefined, 'no hit from the draining worker said Connection: close')
  assert.equal(await closedWithin(socket, 2000), true, 'the draining worker kept the connection open')
})

test('hit-for-miss: after a fill turned out not storable, concurrent misses for that URL go to the backend together', async (t) => {
  // The backend holds each answer until `expect` requests are in flight (or 2 s pass) and records the most at once.
  let expect = 1
  let most = 0
  let held: Array<() => void> = []
  const backend = await startBackend(t, (req, res) => {
    req.resume()
    let done = false
    const answer = (): void => {
      if (done) return
      done = true
      res.writeHead(200, { 'cache-control': 'private, max-age=60' })
      res.end('mine')
    }
    held.push(answer)
    most = Math.max(most, held.length)
    if (held.length >= expect) {
      const all = held
      held = []
      for (const a of all) a()
    } else {
      setTimeout(() => { held = held.filter((a) => a !== answer); answer() }, 2000)
    }
  })
  const proxy = await startProxy(t, { workers: 1, log: { access: false }, upstreams: { web: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'web', cache: {} }] })
  // One miss holds the fill lock and learns that the answer is private.
  const first = await request(`${proxy.url}/private`)
  assert.deepEqual([first.status, first.body, first.headers['x-cache']], [200, 'mine', 'MISS'])
  // Ten at once: none waits behind another's fill, so the backend sees all ten together.
  expect = 10
  most = 0
  const rs = await Promise.all(Array.from({ length: 10 }, async () => await request(`${proxy.url}/private`)))
  assert.ok(rs.every((r) => r.status === 200 && r.body === 'mine' && r.headers['x-cache'] === 'MISS'))
  assert.equal(most, 10, 'requests for an uncacheable URL queued behind a fill')
})

test('each answer is counted and logged by its X-Cache: /api/status sums the workers, the access line names it', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume()
    res.writeHead(200, { 'cache-control': 'max-age=600' })
    res.end('counted')
  })
  const proxy = await startProxy(t, { workers: 1, upstreams: { web: { servers: [{ url: backend.url }] } }, routes: [{ match: { path: '/c/' }, upstream: 'web', cache: {} }, { match: { path: '/' }, upstream: 'web' }] })
  const ask = async (id: string, headers: Record<string, string> = {}): Promise<string | undefined> =>
    (await request(`${proxy.url}/c/x`, { headers: { 'x-request-id': `count-${id}`, ...headers } })).headers['x-cache'] as string | undefined
  assert.deepEqual([await ask('1'), await ask('2'), await ask('3'), await ask('4', { 'cache-control': 'no-store' })], ['MISS', 'HIT', 'HIT', 'BYPASS'])
  // A route without cache counts nowhere.
  assert.equal((await request(`${proxy.url}/plain`, { headers: { 'x-request-id': 'count-5' } })).headers['x-cache'], undefined)
  const status = JSON.parse((await request(`${proxy.adminUrl}/api/status`)).body) as { cache?: Record<string, unknown> }
  assert.deepEqual(status.cache, { hits: 2, misses: 1, stale: 0, bypass: 1, hit_ratio: 0.5, memory_bytes: status.cache?.memory_bytes, memory_entries: 1, shared_faults: 0, degraded_workers: 0 })
  assert.ok(Number(status.cache?.memory_bytes) > 0)
  const lines = await waitFor(() => {
    const a = proxy.logs.filter((l) => l.kind === 'access' && String(l.reqId).startsWith('count-'))
    return a.length === 5 && a
  }, 'five access lines')
  assert.deepEqual(lines.map((l) => [l.reqId, l.cache]), [['count-1', 'MISS'], ['count-2', 'HIT'], ['count-3', 'HIT'], ['count-4', 'BYPASS'], ['count-5', undefined]])
})

test('an unsafe method\'s Location and Content-Location of the same origin are invalidated too; another origin\'s are not', async (t) => {
  const version = new Map<string, number>()
  const backend = await startBackend(t, (req, res) => {
    req.resume()
    const path = req.url!
    if (req.method === 'POST') {
      for (const p of ['/items/7', '/items/8', '/items/9']) version.set(p, (version.get(p) ?? 1) + 1)
      res.writeHead(201, { location: '/items/7', 'content-location': 'http://shop.test/items/8', link: '</items/9>' })
      res.end('created')
      return
    }
    res.writeHead(200, { 'cache-control': 'max-age=600' })
    res.end(`${path} v${version.get(path) ?? 1}`)
  })
  const proxy = await startProxy(t, { workers: 1, log: { access: false }, upstreams: { web: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'web', cache: {} }] })
  const get = async (path: string, host = 'shop.test'): Promise<string> => (await request(`${proxy.url}${path}`, { headers: { host } })).body
  for (const p of ['/items/7', '/items/8', '/items/9']) assert.equal(await get(p), `${p} v1`)
  assert.equal(await get('/items/7', 'other.test'), '/items/7 v1')
  assert.equal((await request(`${proxy.url}/items`, { method: 'POST', headers: { host: 'shop.test' } })).status, 201)
  await waitFor(async () => await get('/items/7') === '/items/7 v2', 'Location /items/7 invalidated', 2000, 20)
  await waitFor(async () => await get('/items/8') === '/items/8 v2', 'Content-Location http://shop.test/items/8 invalidated', 2000, 20)
  // Neither another header's URL nor the same path on another host.
  assert.equal(await get('/items/9'), '/items/9 v1')
  assert.equal(await get('/items/7', 'other.test'), '/items/7 v1')
})
