// Field-value parsers the cache policy needs: Cache-Control directives (RFC 9111 §5.2), delta-seconds (§1.2.2)
// and HTTP-date (RFC 9110 §5.6.7). Hand-written scanners: tolerant of junk, no RegExp built per call.

const SPACE = 0x20
const TAB = 0x09
const COMMA = 0x2c
const EQUALS = 0x3d
const DQUOTE = 0x22
const BACKSLASH = 0x5c

/** §1.2.2: a delta-seconds too large to represent is sent and read as 2^31. */
export const DELTA_SECONDS_MAX = 2147483648

/**
 * Parses a Cache-Control value (RFC 9111 §5.2, list syntax of RFC 9110 §5.6.1) into directive name (lower-case)
 * → argument (a quoted-string unquoted, backslash escapes resolved) or `true` when it has none. The first
 * occurrence of a repeated directive wins (§4.2.1 allows it). Junk (empty members, `=` with no name, an
 * unterminated quote) is skipped rather than failing the whole field.
 */
export function parseCacheControl (value: string | undefined): Map<string, string | true> {
  const out = new Map<string, string | true>()
  if (value === undefined) return out
  const n = value.length
  let i = 0
  while (i < n) {
    // skip separators and whitespace before a member
    let c = value.charCodeAt(i)
    while (i < n && (c === COMMA || c === SPACE || c === TAB)) c = value.charCodeAt(++i)
    if (i >= n) break
    const nameStart = i
    while (i < n) {
      c = value.charCodeAt(i)
      if (c === COMMA || c === EQUALS || c === SPACE || c === TAB) break
      i++
    }
    const name = value.slice(nameStart, i).toLowerCase()
    while (i < n && (value.charCodeAt(i) === SPACE || value.charCodeAt(i) === TAB)) i++
    let arg: string | true = true
    if (i < n && value.charCodeAt(i) === EQUALS) {
      i++
      while (i < n && (value.charCodeAt(i) === SPACE || value.charCodeAt(i) === TAB)) i++
      if (i < n && value.charCodeAt(i) === DQUOTE) {
        i++
        let s = ''
        let from = i
        while (i < n) {
          c = value.charCodeAt(i)
          if (c === DQUOTE) break
          if (c === BACKSLASH && i + 1 < n) { s += value.slice(from, i); from = i + 1; i += 2; continue }
          i++
        }
        arg = s + value.slice(from, i)
        if (i < n) i++ // closing quote
      } else {
        // a token argument ends at whitespace; what follows it before the comma is junk
        const argStart = i
        while (i < n) {
          c = value.charCodeAt(i)
          if (c === COMMA || c === SPACE || c === TAB) break
          i++
        }
        arg = value.slice(argStart, i)
      }
    }
    // anything else up to the next comma is junk
    while (i < n && value.charCodeAt(i) !== COMMA) i++
    if (name !== '' && !out.has(name)) out.set(name, arg)
  }
  return out
}

/**
 * A directive's delta-seconds argument (§1.2.2) in ms; undefined when absent, valueless or not a non-negative
 * integer. Values beyond 2^31 s read as 2^31 s.
 */
export function deltaSecondsMs (cc: ReadonlyMap<string, string | true>, name: string): number | undefined {
  const v = cc.get(name)
  if (v === undefined || v === true) return undefined
  const s = parseDeltaSeconds(v)
  return s === undefined ? undefined : s * 1000
}

/** A delta-seconds string → seconds, or undefined if it is not all digits. */
export function parseDeltaSeconds (v: string): number | undefined {
  const n = v.length
  if (n === 0) return undefined
  let x = 0
  for (let i = 0; i < n; i++) {
    const d = v.charCodeAt(i) - 48
    if (d < 0 || d > 9) return undefined
    x = x * 10 + d
  }
  return x > DELTA_SECONDS_MAX ? DELTA_SECONDS_MAX : x
}

// RFC 9110 §5.6.7: IMF-fixdate, then the obsolete RFC 850 and asctime forms a recipient must also accept.
// Leniency that can't misread a date: a one-digit day and a UTC zone name (both seen from real backends).
const IMF_FIXDATE = /^[A-Za-z]{3}, (\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) (?:GMT|UTC)$/
const RFC850_DATE = /^[A-Za-z]{6,9}, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/
const ASCTIME_DATE = /^[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/
const MONTHS = 'janfebmaraprmayjunjulaugsepoctnovdec'
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/**
 * An HTTP-date (RFC 9110 §5.6.7) → ms since the epoch, or undefined when it is not one. Strict on purpose:
 * `Date.parse` reads `0` as the year 2000 and asctime as local time, while §5.3 of RFC 9111 wants an invalid
 * Expires (`0` especially) to mean "already expired". RFC 850 two-digit years: 70–99 → 19xx, 00–69 → 20xx.
 */
export function parseHttpDate (value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const v = value.trim()
  let m = IMF_FIXDATE.exec(v)
  if (m !== null) return utc(m[3]!, m[2]!, m[1]!, m[4]!, m[5]!, m[6]!)
  m = RFC850_DATE.exec(v)
  if (m !== null) {
    const yy = Number(m[3])
    return utc(String(yy < 70 ? 2000 + yy : 1900 + yy), m[2]!, m[1]!, m[4]!, m[5]!, m[6]!)
  }
  m = ASCTIME_DATE.exec(v)
  if (m !== null) return utc(m[6]!, m[1]!, m[2]!, m[3]!, m[4]!, m[5]!)
  return undefined
}

function utc (year: string, month: string, day: string, h: string, min: string, s: string): number | undefined {
  const mi = MONTHS.indexOf(month.toLowerCase())
  if (mi < 0 || mi % 3 !== 0) return undefined
  const mo = mi / 3
  const y = Number(year)
  const d = Number(day)
  const hh = Number(h)
  const mm = Number(min)
  const ss = Number(s)
  if (d < 1 || d > DAYS_IN_MONTH[mo]! || hh > 23 || mm > 59 || ss > 60) return undefined
  if (mo === 1 && d === 29 && !(y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0))) return undefined
  return Date.UTC(y, mo, d, hh, mm, ss === 60 ? 59 : ss)
}

/** Whether a comma-separated list (e.g. Pragma, Connection) contains `token`, compared case-insensitively. */
export function listHas (value: string, token: string): boolean {
  const n = value.length
  let i = 0
  while (i < n) {
    let end = value.indexOf(',', i)
    if (end < 0) end = n
    let a = i
    let b = end
    while (a < b && (value.charCodeAt(a) === SPACE || value.charCodeAt(a) === TAB)) a++
    while (b > a && (value.charCodeAt(b - 1) === SPACE || value.charCodeAt(b - 1) === TAB)) b--
    if (b - a === token.length && value.slice(a, b).toLowerCase() === token) return true
    i = end + 1
  }
  return false
}
