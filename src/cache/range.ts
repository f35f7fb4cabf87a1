// Range requests answered from a cached full object (RFC 9110 §14): parsing a bytes Range against the body size,
// Content-Range values, and If-Range (§13.1.5).
import type { CacheEntry, RangeDecision } from './types.ts'
import { parseHttpDate } from './cache-control.ts'

/**
 * More range-specs than this and the Range header is ignored (whole body, 200): a DoS guard against many tiny
 * or overlapping ranges (RFC 9110 §14.2 allows ignoring them). Counted before coalescing, empty list members excluded.
 */
export const MAX_RANGES = 16

const NONE: RangeDecision = Object.freeze({ kind: 'none' })
const UNSATISFIABLE: RangeDecision = Object.freeze({ kind: 'unsatisfiable' })

/**
 * Parses a Range header against a body of `size` bytes (§14.1.2, §14.2). `bytes=` (unit case-insensitive) with
 * `first-last`, `first-` and `-suffix` specs; a last-pos past the end is clamped; a suffix longer than the body
 * takes all of it. Any malformed spec (other unit, no digits, last < first) or more than MAX_RANGES specs → 'none'.
 * No satisfiable spec → 'unsatisfiable' (416). Overlapping or adjacent ranges are coalesced, each merged range
 * taking the place of its first member, otherwise request order is kept. An empty body has no byte to send:
 * a suffix range on it → 'none' (the whole, empty, 200), any other → 'unsatisfiable'.
 */
export function parseRange (header: string | undefined, size: number): RangeDecision {
  if (header === undefined) return NONE
  const eq = header.indexOf('=')
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return NONE
  const ranges: Array<[number, number]> = []
  let specs = 0
  let suffixOnEmpty = false
  let i = eq + 1
  const n = header.length
  while (i <= n) {
    let end = header.indexOf(',', i)
    if (end < 0) end = n
    const spec = header.slice(i, end).trim()
    i = end + 1
    if (spec === '') continue
    if (++specs > MAX_RANGES) return NONE
    const dash = spec.indexOf('-')
    if (dash < 0) return NONE
    const first = digits(spec, 0, dash)
    const last = digits(spec, dash + 1, spec.length)
    if (first === -1) {
      // -suffix
      if (last === -1 || last === -2) return NONE
      if (last === 0) continue
      if (size === 0) { suffixOnEmpty = true; continue }
      ranges.push([last >= size ? 0 : size - last, size - 1])
      continue
    }
    if (first === -2 || last === -2) return NONE
    if (last !== -1 && last < first) return NONE
    if (first >= size) continue
    ranges.push([first, last === -1 || last >= size ? size - 1 : last])
  }
  if (specs === 0) return NONE
  if (ranges.length === 0) return suffixOnEmpty ? NONE : UNSATISFIABLE
  return { kind: 'ranges', ranges: coalesce(ranges) }
}

/** Non-negative integer in s[from, to): its value (Infinity past 2^53), -1 when empty, -2 when not all digits. */
function digits (s: string, from: number, to: number): number {
  if (from >= to) return -1
  let x = 0
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - 48
    if (d < 0 || d > 9) return -2
    x = x * 10 + d
  }
  return Number.isSafeInteger(x) ? x : Infinity
}

/** Merges overlapping or adjacent ranges; a merged range sits where its earliest member was. At most MAX_RANGES, so O(n²) is fine. */
function coalesce (ranges: Array<[number, number]>): Array<[number, number]> {
  if (ranges.length === 1) return ranges
  const out: Array<[number, number]> = []
  for (let k = 0; k < ranges.length; k++) {
    const r = ranges[k]!
    let at = -1
    // absorb every earlier range r touches; keep the earliest slot
    for (let j = 0; j < out.length; j++) {
      const o = out[j]!
      if (r[0] <= o[1] + 1 && o[0] <= r[1] + 1) {
        r[0] = Math.min(r[0], o[0])
        r[1] = Math.max(r[1], o[1])
        if (at < 0) { at = j } else { out.splice(j, 1); j-- }
      }
    }
    if (at < 0) out.push(r)
    else out[at] = r
  }
  return out
}

/** Content-Range of a 206 part (§14.4): `bytes start-end/size`, inclusive offsets. */
export function contentRange (start: number, end: number, size: number): string {
  return `bytes ${start}-${end}/${size}`
}

/** Content-Range of a 416 (§14.4, §15.5.17): `bytes *\/size`. */
export function unsatisfiedRange (size: number): string {
  return `bytes */${size}`
}

/**
 * If-Range (§13.1.5): absent → ranges allowed. An entity-tag must match the entry's ETag by strong comparison
 * (a weak tag on either side never matches); otherwise the value must be an HTTP-date equal to the stored
 * Last-Modified. When it doesn't match, the caller ignores Range and sends the whole body (200).
 */
export function ifRangeAllows (ifRange: string | undefined, entry: CacheEntry): boolean {
  if (ifRange === undefined) return true
  const v = ifRange.trim()
  if (v.startsWith('"') || v.startsWith('W/')) {
    return v === entry.etag && !v.startsWith('W/')
  }
  if (entry.lastModified === undefined) return false
  const date = parseHttpDate(v)
  return date !== undefined && date === parseHttpDate(entry.lastModified)
}
