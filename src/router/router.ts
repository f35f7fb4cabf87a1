// Host and path matching, compiled once per config: exact hosts in a map, `*.domain` wildcards by suffix,
// then the longest path prefix. Routes naming a host win over routes for any host.

export interface RouteEntry<T> {
  /** Host, exact or `*.example.com` (case, port and a trailing dot are ignored); undefined matches any host. */
  readonly host?: string | undefined
  /** Path prefix starting with `/`. */
  readonly prefix: string
  readonly value: T
}

export interface Router<T> {
  /** `host` is the Host header as sent (case and port are ignored). */
  match (host: string, path: string): T | undefined
}

interface Bucket<T> { readonly prefixes: readonly string[], readonly values: readonly T[] }

export function createRouter<T> (entries: readonly RouteEntry<T>[]): Router<T> {
  const exact = new Map<string, RouteEntry<T>[]>()
  const wild = new Map<string, RouteEntry<T>[]>() // key: '.example.com'
  const any: RouteEntry<T>[] = []
  for (const e of entries) {
    // Entries get the same normalisation as requests (port, trailing dot and case dropped).
    const h = e.host === undefined ? undefined : hostname(e.host)
    if (h === undefined) any.push(e)
    else if (h.startsWith('*.')) push(wild, h.slice(1), e)
    else push(exact, h, e)
  }
  const anyBucket = bucket(any)
  // Tried in order: the exact host's routes, the matching wildcard's, then any-host routes; the first table with a
  // matching prefix decides, by longest prefix.
  const exactB = new Map([...exact].map(([h, es]) => [h, bucket(es)]))
  const wildB = [...wild].map(([suffix, es]) => ({ suffix, b: bucket(es) })).sort((a, b) => b.suffix.length - a.suffix.length)
  const hostless = exactB.size === 0 && wildB.length === 0

  return {
    match (host, path) {
      if (!hostless) {
        const name = hostname(host)
        const b = exactB.get(name)
        if (b !== undefined) { const v = longest(b, path); if (v !== undefined) return v }
        for (const w of wildB) {
          // One label only: `*.example.com` matches `a.example.com`, not `example.com` or `a.b.example.com`.
          if (oneLabelUnder(name, w.suffix)) {
            const v = longest(w.b, path); if (v !== undefined) return v
          }
        }
      }
      return longest(anyBucket, path)
    }
  }
}

function push<T> (m: Map<string, RouteEntry<T>[]>, k: string, e: RouteEntry<T>): void {
  const l = m.get(k)
  if (l === undefined) m.set(k, [e])
  else l.push(e)
}

function bucket<T> (es: readonly RouteEntry<T>[]): Bucket<T> {
  // Longest prefix first; on equal prefixes the first declared wins (stable sort).
  const sorted = [...es].sort((a, b) => b.prefix.length - a.prefix.length)
  return { prefixes: sorted.map((e) => e.prefix), values: sorted.map((e) => e.value) }
}

function longest<T> (b: Bucket<T>, path: string): T | undefined {
  const p = b.prefixes
  for (let i = 0; i < p.length; i++) if (path.startsWith(p[i]!)) return b.values[i]
  return undefined
}

/** `Example.COM:8080` → `example.com`; `[::1]:80` → `[::1]`. */
export function hostname (host: string): string {
  let end = host.length
  if (host.charCodeAt(0) === 91 /* [ */) {
    end = host.indexOf(']') + 1 || end
  } else {
    const colon = host.lastIndexOf(':')
    if (colon >= 0) end = colon
  }
  if (host.charCodeAt(end - 1) === 46 /* trailing dot */) end--
  const h = end === host.length ? host : host.slice(0, end)
  return h.toLowerCase()
}

/** `name` is exactly one label under `suffix` (`.example.com`): `a.example.com`, not `example.com` or `a.b.example.com`. */
function oneLabelUnder (name: string, suffix: string): boolean {
  return name.length > suffix.length && name.endsWith(suffix) && name.lastIndexOf('.', name.length - suffix.length - 1) < 0
}

/**
 * Whether `name` (lower-case, no port) is one of `hosts`: exact, or one label under a `*.` entry (as uWS matches
 * SNI: `*.b.test` covers `x.b.test`, not `b.test` or `y.x.b.test`).
 */
export function coveredBy (hosts: readonly string[], name: string): boolean {
  for (const h of hosts) {
    if (h === name) return true
    if (h.startsWith('*.') && oneLabelUnder(name, h.slice(1))) return true
  }
  return false
}
