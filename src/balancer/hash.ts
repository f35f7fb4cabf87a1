// Consistent hashing on a ring of virtual nodes: a key (client IP, header or cookie) always maps
// to the same server, and removing one of N servers moves only the ~1/N of keys that were on it.
import { isEligible, type PickContext, type Strategy, type Target } from './strategy.ts'

/** Virtual nodes per unit of weight. 160 is ketama's figure (as in nginx's `hash ... consistent`). */
export const VNODES_PER_WEIGHT = 160

const BY_IP = 0
const BY_HEADER = 1
const BY_COOKIE = 2

export interface HashOptions {
  /** `'ip'`, `'header:NAME'` or `'cookie:NAME'`. A missing header or cookie falls back to the client IP. */
  readonly by: string
}

/**
 * FNV-1a 32-bit over the string's UTF-16 code units, then murmur3's fmix32 finaliser.
 * FNV-1a alone leaves the high bits poorly mixed for keys differing in their last characters
 * (10.0.0.1, 10.0.0.2), and the ring orders by the whole 32-bit value.
 */
export function hashString (s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

function parseBy (by: string): { kind: number, name: string } {
  if (by === 'ip') return { kind: BY_IP, name: '' }
  const colon = by.indexOf(':')
  const source = colon === -1 ? by : by.slice(0, colon)
  const name = colon === -1 ? '' : by.slice(colon + 1)
  if (name !== '' && source === 'header') return { kind: BY_HEADER, name: name.toLowerCase() }
  if (name !== '' && source === 'cookie') return { kind: BY_COOKIE, name }
  throw new TypeError(`hash balancer: by must be 'ip', 'header:NAME' or 'cookie:NAME', got '${by}'`)
}

class Hash implements Strategy {
  readonly name = 'hash'
  readonly #targets: readonly Target[]
  readonly #kind: number
  readonly #keyName: string
  /** Virtual-node positions, ascending. */
  readonly #points: Uint32Array
  /** `#owners[k]` is the position in `#targets` of the server owning `#points[k]`. */
  readonly #owners: Uint32Array

  constructor (targets: readonly Target[], { by }: HashOptions) {
    const parsed = parseBy(by)
    this.#kind = parsed.kind
    this.#keyName = parsed.name
    this.#targets = Array.from(targets)
    // Points are seeded by URL, not list position, so a server keeps its points when others
    // are added or removed from the config: that is what keeps unrelated keys in place.
    const nodes: Array<{ point: number, owner: number }> = []
    for (let i = 0; i < this.#targets.length; i++) {
      const t = this.#targets[i]!
      const count = Math.max(1, Math.round(t.weight * VNODES_PER_WEIGHT))
      for (let v = 0; v < count; v++) nodes.push({ point: hashString(`${t.url}#${v}`), owner: i })
    }
    // Equal points (rare) are ordered by owner so the ring doesn't depend on list order.
    const urls = this.#targets.map((t) => t.url)
    nodes.sort((x, y) => x.point - y.point || (urls[x.owner]! < urls[y.owner]! ? -1 : urls[x.owner]! > urls[y.owner]! ? 1 : 0))
    this.#points = Uint32Array.from(nodes, (n) => n.point)
    this.#owners = Uint32Array.from(nodes, (n) => n.owner)
  }

  #key (ctx: PickContext): string {
    let key: string | undefined
    if (this.#kind === BY_HEADER) key = ctx.header(this.#keyName)
    else if (this.#kind === BY_COOKIE) key = ctx.cookie(this.#keyName)
    return key === undefined || key === '' ? ctx.clientIp : key
  }

  pick (ctx: PickContext, exclude?: ReadonlySet<Target>): Target | undefined {
    const points = this.#points
    const size = points.length
    if (size === 0) return undefined
    const h = hashString(this.#key(ctx))
    // First point at or clockwise of h; past the last point wraps to the first.
    let lo = 0
    let hi = size
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (points[mid]! < h) lo = mid + 1
      else hi = mid
    }
    const start = lo === size ? 0 : lo
    const owner = this.#targets[this.#owners[start]!]!
    if (isEligible(owner, exclude)) return owner
    return this.#walk(start, exclude)
  }

  /**
   * Owner not eligible: the next eligible server clockwise. This is exactly where the key would
   * land on a ring built without the ineligible servers, so a failover is as stable as a removal.
   */
  #walk (start: number, exclude: ReadonlySet<Target> | undefined): Target | undefined {
    const targets = this.#targets
    let any = false
    for (let i = 0; i < targets.length; i++) {
      if (isEligible(targets[i]!, exclude)) { any = true; break }
    }
    if (!any) return undefined
    const owners = this.#owners
    const size = owners.length
    for (let k = 1; k < size; k++) {
      let at = start + k
      if (at >= size) at -= size
      const t = targets[owners[at]!]!
      if (isEligible(t, exclude)) return t
    }
    return undefined
  }
}

/** Consistent hash over `targets`, `VNODES_PER_WEIGHT` points per unit of weight, keyed by `by`. */
export function createHash (targets: readonly Target[], opts: HashOptions): Strategy {
  return new Hash(targets, opts)
}
