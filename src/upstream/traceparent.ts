// W3C Trace Context (https://www.w3.org/TR/trace-context/ §3.2): a request's `traceparent` is kept when the client
// sent a valid one and started here otherwise, then forwarded to the backend and written in the access line, so a
// request can be followed from our log into the backend's.
import { Buffer } from 'node:buffer'
import { randomFillSync } from 'node:crypto'

/** version-traceid-parentid-flags, lower-case hex; a later version may append `-…` fields (§3.2.4). */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
const ZERO_TRACE = '0'.repeat(32)
const ZERO_PARENT = '0'.repeat(16)

/** Whether `v` is a traceparent to keep: the format, version not ff, version 00 exactly, ids not all zero. */
export function validTraceparent (v: string): boolean {
  const m = TRACEPARENT.exec(v)
  if (m === null) return false
  const version = m[1]!
  if (version === 'ff' || (version === '00' && m[5] !== undefined)) return false
  return m[2] !== ZERO_TRACE && m[3] !== ZERO_PARENT
}

/** Traceparents made per draw of random bytes: 4080 bytes, 16 for the trace id and 8 for the parent id of each. */
const PER_DRAW = 170
/** `00-` 32 hex `-` 16 hex `-01`. */
const LENGTH = 55
const HEX = Buffer.from('0123456789abcdef', 'latin1')

/**
 * A source of new traceparents (`00-<trace id>-<parent id>-01`, sampled), from random bytes drawn 4 KiB at a time
 * rather than a crypto call per request. Each draw is written out as the text of 170 traceparents side by side, made
 * into one string, and each traceparent is a slice of it: one flat piece where a traceparent goes into a request head
 * or an access line, instead of five pieces (and two hex conversions) per request (bench/micro/rope-flatten.bench.ts).
 */
export function createTraceStarter (fill: (buf: Uint8Array) => void = randomFillSync): () => string {
  const random = Buffer.alloc(PER_DRAW * 24)
  const text = Buffer.alloc(PER_DRAW * LENGTH)
  let texts = ''
  let next = PER_DRAW
  return () => {
    if (next === PER_DRAW) {
      fill(random)
      for (let i = 0; i < PER_DRAW; i++) writeTraceparent(random, i * 24, text, i * LENGTH)
      texts = text.toString('latin1')
      next = 0
    }
    const at = LENGTH * next++
    return texts.slice(at, at + LENGTH)
  }
}

/**
 * Writes the traceparent of the 24 random bytes at `from` into `to` at `at`. The format is right by construction; only
 * an all-zero id (2^-64 per draw) would be invalid, and gets a fixed one (…0001).
 */
function writeTraceparent (random: Uint8Array, from: number, to: Uint8Array, at: number): void {
  to[at] = 0x30 // 0
  to[at + 1] = 0x30
  to[at + 2] = 0x2d // -
  hex(random, from, 16, to, at + 3)
  to[at + 35] = 0x2d
  hex(random, from + 16, 8, to, at + 36)
  to[at + 52] = 0x2d
  to[at + 53] = 0x30
  to[at + 54] = 0x31 // 1
}

/** `n` bytes at `from` as lower-case hex at `at`, or …0001 if they are all zero. */
function hex (random: Uint8Array, from: number, n: number, to: Uint8Array, at: number): void {
  let any = 0
  for (let i = 0; i < n; i++) {
    const b = random[from + i]!
    any |= b
    to[at + 2 * i] = HEX[b >> 4]!
    to[at + 2 * i + 1] = HEX[b & 15]!
  }
  if (any === 0) to[at + 2 * n - 1] = 0x31
}
