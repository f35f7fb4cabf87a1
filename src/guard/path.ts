// Path normalisation before routing: the path the router matches is the path the backend gets, so `/public/../admin`
// or `/public/%2e%2e/admin` cannot reach a /public/ route's backend as /admin, nor slip past an /admin/ route's lists.
import { NEXT, type Stage } from '../pipeline/index.ts'

export interface PathOptions {
  /** Keep `%2F` (as `%2F`, never decoded) instead of refusing the request. */
  readonly allowEncodedSlash: boolean
  /** Merge runs of `/` into one (`//admin` is `/admin`), as nginx's merge_slashes. */
  readonly mergeSlashes: boolean
}

const HEX = '0123456789ABCDEF'

function hexValue (c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 65 && c <= 70) return c - 55
  if (c >= 97 && c <= 102) return c - 87
  return -1
}

/** RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function unreserved (b: number): boolean {
  return (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || (b >= 48 && b <= 57) || b === 45 || b === 46 || b === 95 || b === 126
}

/**
 * True when `path` may need work: a `%`, a backslash, `#`, a control or space character, a segment starting with
 * `.`, or (merging) `//`. One scan, no allocation: most paths end here.
 */
function needsWork (path: string, merge: boolean): boolean {
  let prev = 0
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i)
    if (c === 37 || c === 92 || c === 35 || c < 33 || c === 127) return true
    if (prev === 47 && (c === 46 || (merge && c === 47))) return true
    prev = c
  }
  return false
}

/**
 * The normalised path, or undefined when it must be refused (400 SWY_BAD_PATH). Returns `path` itself when nothing
 * changes. Steps: percent-decode unreserved characters and upper-case the hex of the rest (RFC 3986 §6.2.2.1-2);
 * refuse `%2F` (unless allowed), `%5C`, `%00`, a raw backslash, `#`, controls and malformed escapes; remove dot
 * segments (RFC 3986 §5.2.4) but refuse a `..` above the root; refuse `.;`/`..;` segments (Tomcat reads `..;` as `..`).
 * `%25` stays `%25`: nothing is decoded twice.
 */
export function normalisePath (path: string, o: PathOptions): string | undefined {
  if (!needsWork(path, o.mergeSlashes)) return path
  let decoded = ''
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i)
    if (c === 37) {
      if (i + 2 >= path.length) return undefined
      const hi = hexValue(path.charCodeAt(i + 1))
      const lo = hexValue(path.charCodeAt(i + 2))
      if (hi < 0 || lo < 0) return undefined
      const b = hi * 16 + lo
      i += 2
      if (b === 0 || b === 0x5c) return undefined
      if (b === 0x2f && !o.allowEncodedSlash) return undefined
      decoded += unreserved(b) ? String.fromCharCode(b) : `%${HEX[hi]!}${HEX[lo]!}`
    } else if (c === 92 || c === 35 || c < 33 || c === 127) {
      return undefined
    } else {
      decoded += path[i]!
    }
  }
  const segs = decoded.split('/')
  const out: string[] = []
  const lastIndex = segs.length - 1
  for (let i = 1; i <= lastIndex; i++) {
    const s = segs[i]!
    if (s === '.') {
      if (i === lastIndex) out.push('')
      continue
    }
    if (s === '..') {
      if (out.length === 0) return undefined // climbs above the root
      out.pop()
      if (i === lastIndex) out.push('')
      continue
    }
    if (s.startsWith('.;') || s.startsWith('..;')) return undefined
    if (s === '' && o.mergeSlashes && i !== lastIndex) continue
    out.push(s)
  }
  const result = `/${out.join('/')}`
  return result === path ? path : result
}

/** The stage before the router: rewrites `ex.path` (what routes match) and `ex.forwardPath` (what is sent). */
export function createPathNormaliser (o: PathOptions): Stage {
  return {
    name: 'path',
    run (ex) {
      const p = normalisePath(ex.path, o)
      if (p === undefined) return ex.reject('SWY_BAD_PATH')
      if (p !== ex.path) {
        ex.path = p
        ex.forwardPath = p
      }
      return NEXT
    }
  }
}
