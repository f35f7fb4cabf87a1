// Turns a validated config into live objects: pools, balancers and the stage arrays, built once per config, and read
// top to bottom in the order a request meets them. A reload builds a whole new runtime and swaps one reference; the
// old one closes after it drains. Only the worker entry (workers/proxy.ts) imports this folder.
import type { Config } from '../config/index.ts'
import type { ServerCounters } from '../health/index.ts'
import { createRouteStage } from '../router/index.ts'
import { createGuard, createPathNormaliser, createClientCaps, createConnectionCensus, type ConnectionCensus } from '../guard/index.ts'
import { createBans, type Bans } from '../bans/index.ts'
import { createCidrSet } from '../net/index.ts'
import { createKeys } from '../state/index.ts'
import { UpstreamClock, createTraceStarter, type UpstreamRuntime } from '../upstream/index.ts'
import type { Stage } from '../pipeline/index.ts'
import { assembleUpstreams, closeUpstreams } from './upstreams.ts'
import { assembleRoute } from './routes.ts'
import { createRelays } from '../websocket/index.ts'
import type { RuntimeServices } from './services.ts'

export type { RuntimeServices }

export interface Runtime {
  /** The stages every request runs; the route stage continues into the route's own stages. */
  readonly stages: readonly Stage[]
  readonly upstreams: ReadonlyMap<string, UpstreamRuntime<unknown>>
  /** Applies the primary's health checks: `healthy[i]` for the upstream's i-th server. Unknown names are ignored. */
  setHealth (upstream: string, healthy: readonly boolean[]): void
  /** Per upstream, per server: in-flight requests, recent errors and ejection, for the admin API's status. */
  counters (): Record<string, ServerCounters[]>
  /** Resolves once the active bans were read from shared state (or that failed: it never rejects). */
  readonly ready: Promise<void>
  /** The worker's bans (table, sync, check); undefined when no rate limit has a ban. */
  readonly bans: Bans | undefined
  /** Closes the pools once their in-flight requests finish (bounded by graceMs). */
  close (graceMs: number): Promise<void>
}

export function buildRuntime (config: Config, services: RuntimeServices): Runtime {
  const keys = createKeys(config.state?.prefix ?? 'swy')
  const now = services.now ?? Date.now
  const lim = config.limits
  // The upstream client's one timer and read buffer for this runtime's pools.
  const clock = new UpstreamClock()
  const upstreams = assembleUpstreams(config, services, keys, now, clock)
  const bans = createBans({ routes: config.routes, state: services.state, keys, now, workers: services.workers, log: (f) => services.log.child(f) })
  const census = lim.max_connections_per_ip > 0
    ? createConnectionCensus({ ports: config.listen.map((l) => l.port), cap: lim.max_connections_per_ip, intervalMs: 1000, log: services.log.child({ concept: 'client-caps' }) })
    : undefined

  // The stages every request meets, in order.
  const stages: Stage[] = [createGuard({
    trusted: createCidrSet(config.trusted_proxies),
    nextId: services.nextId,
    maxHeaders: config.limits.max_headers,
    maxHeaderSize: config.limits.max_header_size
  })]
  if (bans !== undefined) stages.push(bans.stage)
  // Before the router: what routes match is what backends get.
  stages.push(createPathNormaliser({ allowEncodedSlash: lim.allow_encoded_slash, mergeSlashes: lim.merge_slashes }))
  if (census !== undefined || lim.max_inflight_per_ip > 0) stages.push(createClientCaps({ maxInflight: lim.max_inflight_per_ip, census }))
  // Coarse time is enough for the idle sweep of WebSockets.
  const relays = createRelays(now)
  const ctx = { config, services, keys, now, upstreams, bans, relays, startTrace: createTraceStarter(services.randomFill) }
  stages.push(createRouteStage(config.routes.map((r) => assembleRoute(r, ctx))))

  return {
    stages,
    upstreams: new Map([...upstreams].map(([name, u]) => [name, u.runtime])),
    setHealth (name, healthy) {
      upstreams.get(name)?.states.setChecked(healthy)
    },
    counters () {
      const out: Record<string, ServerCounters[]> = {}
      for (const [name, u] of upstreams) out[name] = u.states.counters()
      return out
    },
    ready: Promise.all([bans?.ready, census?.start()]).then(() => {}),
    bans,
    async close (graceMs) {
      census?.close()
      relays.close()
      await Promise.all([bans?.close(), closeUpstreams(upstreams, graceMs)])
      clock.close()
    }
  }
}
