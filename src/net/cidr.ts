// IP address normalisation and CIDR matching, for trusted_proxies and access lists.
// uWS reports dual-stack peers in full, uncompressed IPv6 form (docs/uws.md §6); we normalise once per request.
import { BlockList, isIP } from 'node:net'

const MAPPED_FULL = '0000:0000:0000:0000:0000:ffff:'

/**
 * Canonical text of an address: IPv4-mapped IPv6 (`::ffff:a.b.c.d` in any spelling) becomes dotted IPv4,
 * other IPv6 is compressed and lower-case (RFC 5952 §4). Text that is no address comes back unchanged.
 */
export function normaliseAddress (raw: string): string {
  if (raw.length <= 15 && isIP(raw) === 4) return raw
  if (isIP(raw) !== 6) return raw
  // The form uWS reports for IPv4 peers on a dual-stack socket: skip the general parse.
  if (raw.length === 39 && raw.startsWith(MAPPED_FULL)) {
    const hi = parseInt(raw.slice(30, 34), 16)
    const lo = parseInt(raw.slice(35), 16)
    return ipv4(hi >>> 8, hi & 255, lo >>> 8, lo & 255)
  }
  const pct = raw.indexOf('%')
  const zone = pct < 0 ? '' : raw.slice(pct)
  const g = groupsOf((pct < 0 ? raw : raw.slice(0, pct)).toLowerCase())
  if (zone === '' && g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    const hi = g[6]!
    const lo = g[7]!
    return ipv4(hi >>> 8, hi & 255, lo >>> 8, lo & 255)
  }
  return compressed(g) + zone
}

/** Dotted IPv4 text by the address as a 32-bit number; peers repeat, so each text is built once (bounded). */
const dotted = new Map<number, string>()

function ipv4 (a: number, b: number, c: number, d: number): string {
  const key = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0
  let text = dotted.get(key)
  if (text === undefined) {
    if (dotted.size >= 4096) dotted.clear()
    text = `${a}.${b}.${c}.${d}`
    dotted.set(key, text)
  }
  return text
}

/**
 * The canonical text (as normaliseAddress gives) of an address in network byte order: 4 bytes IPv4, 16 bytes
 * IPv6. uWS's binary getRemoteAddress costs a third less than its text form, and no text has to be parsed back
 * (an IPv4 peer on a dual-stack socket arrives as IPv4-mapped IPv6). Any other length gives ''.
 */
export function addressFromBytes (bytes: ArrayBuffer): string {
  const b = new Uint8Array(bytes)
  if (b.length === 4) return ipv4(b[0]!, b[1]!, b[2]!, b[3]!)
  if (b.length !== 16) return ''
  if (b[10] === 0xff && b[11] === 0xff && b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0 && b[4] === 0 &&
    b[5] === 0 && b[6] === 0 && b[7] === 0 && b[8] === 0 && b[9] === 0) return ipv4(b[12]!, b[13]!, b[14]!, b[15]!)
  const g = new Array<number>(8)
  for (let i = 0; i < 8; i++) g[i] = (b[2 * i]! << 8) | b[2 * i + 1]!
  return compressed(g)
}

/** RFC 5952 §4 text of eight 16-bit groups: lower-case hex, the longest run of two or more zero groups as `::`. */
function compressed (g: number[]): string {
  // The longest run of two or more zero groups becomes `::`; on a tie, the first (RFC 5952 §4.2).
  let best = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLen) { best = i; bestLen = j - i }
    i = j
  }
  const hex = (from: number, to: number): string => g.slice(from, to).map((n) => n.toString(16)).join(':')
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`
}

/** The eight 16-bit groups of a valid IPv6 address (a trailing dotted IPv4 counts as two). */
function groupsOf (a: string): number[] {
  const parse = (s: string): number[] => s === ''
    ? []
    : s.split(':').flatMap((p) => {
      if (!p.includes('.')) return [parseInt(p, 16)]
      const [b0 = 0, b1 = 0, b2 = 0, b3 = 0] = p.split('.').map(Number)
      return [(b0 << 8) | b1, (b2 << 8) | b3]
    })
  const [head = '', tail] = a.split('::')
  const h = parse(head)
  if (tail === undefined) return h
  const t = parse(tail)
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t]
}

/** Parses a CIDR or a bare address; returns undefined when it is neither. */
export function parseCidr (text: string): { address: string, prefix: number, family: 'ipv4' | 'ipv6' } | undefined {
  const parts = text.split('/')
  if (parts.length > 2) return undefined
  const [address = '', bits] = parts
  const v = isIP(address)
  if (v === 0) return undefined
  const max = v === 4 ? 32 : 128
  const prefix = bits === undefined ? max : Number(bits)
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits))) return undefined
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' }
}

/** A set of CIDRs with a fast `has(address)`. */
export function createCidrSet (cidrs: readonly string[]): { has (address: string): boolean, readonly size: number } {
  const list = new BlockList()
  for (const c of cidrs) {
    const p = parseCidr(c)
    if (p === undefined) throw new Error(`not a CIDR: ${c}`)
    list.addSubnet(p.address, p.prefix, p.family)
  }
  return {
    size: cidrs.length,
    has (address) {
      const v = isIP(address)
      if (v === 0) return false
      return list.check(address, v === 4 ? 'ipv4' : 'ipv6')
    }
  }
}
