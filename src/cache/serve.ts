// Answers a request from a stored entry: 200 (or the stored status), 304 for a matching client conditional, 206 or
// 416 for a Range. Synchronous and cheap on a plain hit: the header array is built once per entry and reused.
import type { Downstream, Exchange } from '../pipeline/index.ts'
import type { StagePolicy } from './stage-policy.ts'
import type { CacheEntry, HeaderLookup } from './types.ts'

export const HIT = 'HIT'
export const STALE = 'STALE'

/** Request flags the stage found in one pass over the headers. */
export const F_POLICY = 1 // cache-control, pragma or authorization: the request policy must be parsed
export const F_RANGE = 2
export const F_IF_RANGE = 4
export const F_CONDITIONAL = 8 // if-none-match, if-modified-since
export const F_PRECONDITION = 16 // if-match, if-unmodified-since: never answered from the cache

/**
 * The head of a plain answer from `e` as one `[name, value]` pair: the stored fields, X-Cache, Age and x-request-id
 * folded into one value whose other lines are CRLF-joined (uWS writes `name: value\r\n` as given; stored values
 * cannot hold CR or LF, which the HTTP parser upstream refuses, and request ids are checked by the guard). Every
 * writeHeader is a call into uWS, so one per hit instead of one per field: +7% requests per CPU-second with three
 * calls instead of nine in bench/load/cache.ts (77.2k vs 71.8k, 1 KiB hits, 7 header lines), more again with one.
 * The part that is the same for every answer from `e` is built once per entry.
 */
class Head {
  readonly first: string
  readonly block: string
  /** Reused for each answer: filled and handed to `start()` within one synchronous call. */
  readonly pair: string[]
  constructor (first: string, block: string) {
    this.first = first
    this.block = block
    this.pair = [first, block]
  }
}
/** Fields a 304 carries from the stored response (RFC 9110 §15.4.5). */
const NOT_MODIFIED_FIELDS: ReadonlySet<string> = new Set(['cache-control', 'content-location', 'etag', 'expires', 'last-modified', 'vary'])

/** A lookup over the request's headers, several lines joined with ", ". Allocated only where a policy needs one. */
export function lookupOf (ex: Exchange): HeaderLookup {
  const h = ex.headers
  return (name) => {
    let out: string | undefined
    for (let i = 0; i < h.length; i += 2) {
      if (h[i] === name) out = out === undefined ? h[i + 1] : `${out}, ${h[i + 1]!}`
    }
    return out
  }
}

/** Answers requests from entries; keeps each entry's prebuilt head (one per cache stage, so per route). */
export class EntryServer {
  readonly #policy: StagePolicy
  readonly #heads = new WeakMap<CacheEntry, Head>()
  readonly #staleHeads = new WeakMap<CacheEntry, Head>()

  constructor (policy: StagePolicy) {
    this.#policy = policy
  }

  #headOf (e: CacheEntry, xcache: string): Head {
    const cache = xcache === HIT ? this.#heads : this.#staleHeads
    let h = cache.get(e)
    if (h === undefined) {
      const f = e.headers
      let first = 'x-cache'
      let block = xcache
      if (f.length >= 2) {
        first = f[0]!
        block = f[1]!
        for (let i = 2; i < f.length; i += 2) block += `\r\n${f[i]!}: ${f[i + 1]!}`
        block += `\r\nx-cache: ${xcache}`
      }
      h = new Head(first, block)
      cache.set(e, h)
    }
    return h
  }

  /**
   * Writes `e` to `d` for `ex` (GET or HEAD) and returns nothing: the answer is complete or streaming by backpressure.
   * `flags` says which request headers need a look (F_CONDITIONAL, F_RANGE, F_IF_RANGE).
   */
  serve (ex: Exchange, d: Downstream, e: CacheEntry, xcache: string, flags: number, nowMs: number): void {
    const policy = this.#policy
    if (ex.aborted || ex.finished) return
    const age = String(policy.ageSeconds(e, nowMs))
    if ((flags & F_CONDITIONAL) !== 0 && e.status === 200 && policy.notModified(e, lookupOf(ex))) {
      const h: string[] = []
      const s = e.headers
      for (let i = 0; i < s.length; i += 2) if (NOT_MODIFIED_FIELDS.has(s[i]!)) h.push(s[i]!, s[i + 1]!)
      h.push('age', age, 'x-cache', xcache, 'x-request-id', ex.requestId)
      ex.status = 304
      d.start(304, h, -1)
      d.end()
      return
    }
    const body = e.body
    if ((flags & F_RANGE) !== 0 && e.status === 200) {
      const range = ex.header('range')!
      const ifRange = (flags & F_IF_RANGE) !== 0 ? ex.header('if-range') : undefined
      if (ifRange === undefined || policy.ifRangeMatches(e, ifRange)) {
        const r = policy.parseRange(range, body.length)
        if (r.kind === 'unsatisfiable') {
          const h = withoutContent(e.headers)
          h.push('content-range', `bytes */${body.length}`, 'age', age, 'x-cache', xcache, 'x-request-id', ex.requestId)
          ex.status = 416
          d.start(416, h, 0)
          d.end()
          return
        }
        if (r.kind === 'ranges' && r.ranges.length > 1) {
          const m = multipart(e, r.ranges)
          m.headers.push('age', age, 'x-cache', xcache, 'x-request-id', ex.requestId)
          ex.status = 206
          d.start(206, m.headers, m.body.length)
          d.write(m.body)
          d.end()
          ex.bytesSent = m.body.length
          return
        }
        if (r.kind === 'ranges' && r.ranges.length === 1) {
          const [start, end] = r.ranges[0]!
          const h = [...e.headers, 'content-range', `bytes ${start}-${end}/${body.length}`, 'age', age, 'x-cache', xcache, 'x-request-id', ex.requestId]
          const part = body.subarray(start, end + 1)
          ex.status = 206
          d.start(206, h, part.length)
          if (part.length > 0) d.write(part)
          d.end()
          ex.bytesSent = part.length
          return
        }
      }
    }
    // The shared pair is filled and consumed in this synchronous call: start() keeps it, write()/end() write it.
    const head = this.#headOf(e, xcache)
    const h = head.pair
    h[1] = `${head.block}\r\nage: ${age}\r\nx-request-id: ${ex.requestId}`
    ex.status = e.status
    d.start(e.status, h, body.length)
    if (body.length > 0) d.write(body)
    d.end()
    ex.bytesSent = body.length
  }
}

/** Separates the parts of a multipart/byteranges body; fixed, since no stored body is scanned for it. */
const BOUNDARY = 'SWITCHYARD_BYTERANGES_3d6b1f0e'

/** A 206 with several ranges (RFC 9110 §14.6): each part carries the stored Content-Type and its Content-Range. */
function multipart (e: CacheEntry, ranges: ReadonlyArray<readonly [number, number]>): { headers: string[], body: Buffer } {
  const size = e.body.length
  let type: string | undefined
  const headers: string[] = []
  for (let i = 0; i < e.headers.length; i += 2) {
    const n = e.headers[i]!
    if (n === 'content-type') { type = e.headers[i + 1]; continue }
    headers.push(n, e.headers[i + 1]!)
  }
  headers.push('content-type', `multipart/byteranges; boundary=${BOUNDARY}`)
  const parts: Buffer[] = []
  for (const [start, end] of ranges) {
    parts.push(Buffer.from(`--${BOUNDARY}\r\n${type === undefined ? '' : `content-type: ${type}\r\n`}content-range: bytes ${start}-${end}/${size}\r\n\r\n`, 'latin1'))
    parts.push(Buffer.from(e.body.buffer, e.body.byteOffset + start, end - start + 1))
    parts.push(Buffer.from('\r\n'))
  }
  parts.push(Buffer.from(`--${BOUNDARY}--\r\n`))
  return { headers, body: Buffer.concat(parts) }
}

/** The entry's headers without the fields that describe its body (a 416 has none of it). */
function withoutContent (headers: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!
    if (n === 'content-type' || n === 'content-encoding' || n === 'content-range') continue
    out.push(n, headers[i + 1]!)
  }
  return out
}
