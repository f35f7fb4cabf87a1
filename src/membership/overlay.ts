// Runtime membership on top of the config file: servers added, drained or removed through the admin API, and the
// live members of discovered services. A pure function, so the same snapshot gives the same config on every host.
import type { Config } from '../config/index.ts'

/** How the admin API left one server of an upstream. */
export interface MemberChange {
  readonly url: string
  /** active: in rotation (added if the file lacks it); drain: listed, but no new requests; removed: gone. */
  readonly state: 'active' | 'drain' | 'removed'
  readonly weight: number
}

/** Everything runtime membership knows, as read from shared state. */
export interface MembershipSnapshot {
  /** Per upstream, the admin API's changes. */
  readonly changes: Readonly<Record<string, readonly MemberChange[]>>
  /** Per discovered service, the URLs whose heartbeat is live. */
  readonly services: Readonly<Record<string, readonly string[]>>
}

export const EMPTY_SNAPSHOT: MembershipSnapshot = { changes: {}, services: {} }

export interface Overlaid {
  readonly config: Config
  /** Per upstream, servers that stay listed but get no new requests. */
  readonly draining: Readonly<Record<string, ReadonlySet<string>>>
  /** Per upstream, per server URL: where it comes from (config, api or discovery). */
  readonly origin: Readonly<Record<string, Readonly<Record<string, 'config' | 'api' | 'discovery'>>>>
}

/**
 * The file's config with `snapshot` applied. Order: the file's servers, then discovered members, then servers the
 * API added, each URL once; then the API's removals. The result is a new object; `config` is not touched.
 */
export function overlay (config: Config, snapshot: MembershipSnapshot): Overlaid {
  const upstreams: Record<string, Config['upstreams'][string]> = {}
  const draining: Record<string, Set<string>> = {}
  const origin: Record<string, Record<string, 'config' | 'api' | 'discovery'>> = {}
  for (const [name, u] of Object.entries(config.upstreams)) {
    const servers = new Map<string, { url: string, weight: number }>()
    const from: Record<string, 'config' | 'api' | 'discovery'> = {}
    for (const s of u.servers) { servers.set(s.url, s); from[s.url] = 'config' }
    if (u.discover !== undefined) {
      for (const url of [...(snapshot.services[u.discover] ?? [])].sort()) {
        if (!servers.has(url)) { servers.set(url, { url, weight: 1 }); from[url] = 'discovery' }
      }
    }
    const drains = new Set<string>()
    for (const c of snapshot.changes[name] ?? []) {
      if (c.state === 'removed') { servers.delete(c.url); delete from[c.url]; continue }
      if (!servers.has(c.url)) from[c.url] = 'api'
      servers.set(c.url, { url: c.url, weight: c.weight })
      if (c.state === 'drain') drains.add(c.url)
    }
    upstreams[name] = { ...u, servers: [...servers.values()] }
    draining[name] = drains
    origin[name] = from
  }
  return { config: { ...config, upstreams }, draining, origin }
}

/** True when two configs' upstreams have the same servers (URL and weight, in order): no new generation needed. */
export function sameServers (a: Config, b: Config): boolean {
  const names = Object.keys(a.upstreams)
  if (names.length !== Object.keys(b.upstreams).length) return false
  for (const name of names) {
    const x = a.upstreams[name]!.servers
    const y = b.upstreams[name]?.servers
    if (y === undefined || x.length !== y.length) return false
    for (let i = 0; i < x.length; i++) if (x[i]!.url !== y[i]!.url || x[i]!.weight !== y[i]!.weight) return false
  }
  return true
}
