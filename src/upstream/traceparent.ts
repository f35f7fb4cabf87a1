// W3C Trace Context (https://www.w3.org/TR/trace-context/ §3.2): a request's `traceparent` is kept when the client
// sent a valid one and started here otherwise, then forwarded to the backend and written in the access line, so a
// request can be followed from our log into the backend's.
import { Buffer } from 'node:buffer'
import { randomFillSync } from 'node:crypto'

/** version-traceid-parentid-flags, lower-case hex; a later version may append `-…` fields (§3.2.4). */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
const ZERO_TRACE = '0'.repeat(32)
const ZERO_PARENT = '0'.repeat(16)
const ONE_TRACE = '1'.padStart(32, '0')
const ONE_PARENT = '1'.padStart(16, '0')

/** Whether `v` is a traceparent to keep: the format, version not ff, version 00 exactly, ids not all zero. */
export function validTraceparent (v: string): boolean {
  const m = TRACEPARENT.exec(v)
  if (m === null) return false
  const version = m[1]!
  if (version === 'ff' || (version === '00' && m[5] !== undefined)) return false
  return m[2] !== ZERO_TRACE && m[3] !== ZERO_PARENT
}

/**
 * A source of new traceparents (`00-<trace id>-<parent id>-01`, sampled), from random bytes drawn 4 KiB at a time
 * rather than a crypto call per request.
 */
export function createTraceStarter (fill: (buf: Uint8Array) => void = randomFillSync): () => string {
  const pool = Buffer.alloc(4080) // a multiple of 24 bytes (16 + 8 per id)
  let at = pool.length
  return () => {
    if (at === pool.length) { fill(pool); at = 0 }
    const trace = pool.toString('hex', at, at + 16)
    const parent = pool.toString('hex', at + 16, at + 24)
    at += 24
    // The format is right by construction; only an all-zero id (2^-64 per draw) would be invalid, and gets a fixed one.
    return `00-${trace === ZERO_TRACE ? ONE_TRACE : trace}-${parent === ZERO_PARENT ? ONE_PARENT : parent}-01`
  }
}
