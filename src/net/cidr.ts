// IP address normalisation and CIDR matching, for trusted_proxies and access lists.
// uWS reports dual-stack peers in full, uncompressed IPv6 form (uws-notes.md §6); we normalise once per request.
import { BlockList, isIP } from 'node:net'

/** Canonical text of an address: IPv4-mapped IPv6 becomes dotted IPv4, IPv6 is compressed and lower-case. */
export function normaliseAddress (raw: string): string {
  if (raw.length <= 15 && isIP(raw) === 4) return raw
  const lower = raw.toLowerCase()
  if (lower.startsWith('0000:0000:0000:0000:0000:ffff:')) {
    const h = lower.slice(30).replace(':', '')
    const n = parseInt(h, 16)
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
  }
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7)
  if (isIP(lower) !== 6) return raw
  // Compress: drop leading zeros per group, then the longest run of zero groups.
  const groups = expandV6(lower).map((g) => g.replace(/^0+(?=.)/, ''))
  let best = -1; let bestLen = 1
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== '0') { i++; continue }
    let j = i
    while (j < groups.length && groups[j] === '0') j++
    if (j - i > bestLen) { best = i; bestLen = j - i }
    i = j
  }
  if (best < 0) return groups.join(':')
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`
}

function expandV6 (a: string): string[] {
  const [head = '', tail] = a.split('::')
  const h = head === '' ? [] : head.split(':')
  if (tail === undefined) return h
  const t = tail === '' ? [] : tail.split(':')
  return [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t]
}

/** Parses a CIDR or a bare address; returns undefined when it is neither. */
export function parseCidr (text: string): { address: string, prefix: number, family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', bits] = text.split('/')
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
