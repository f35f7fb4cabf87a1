// Turns a validated config into live objects: pools, balancers and the stage arrays, built once per config.
// A reload builds a whole new runtime and swaps one reference; the old one closes after it drains.
import type { Logger } from 'pino'
import type { Config } from '../config/index.ts'
import { createStrategy, createSticky, type Random, type Sticky, type Target } from '../balancer/index.ts'
import { createServerStates, type EjectionEvent, type ServerCounters } from '../health/index.ts'
import { createRouter } from '../router/index.ts'
import {
  createGuard, createAccess, createBanCheck, createBanSync, formatBan, BanTable, type BanSync,
  createLimits, createPathNormaliser, createClientCaps, createConnectionCensus, type ConnectionCensus
} from '../guard/index.ts'
import { HTTP_METHODS } from '../config/index.ts'
import { securityHeaderFields, SECURITY_HEADER_NAMES } from '../response/security-headers.ts'
import { createCidrSet } from '../net/cidr.ts'
import { createKeys, type SharedState } from '../state/index.ts'
import { createRateLimit, createSharedLimiter, createBanCounter, banSubject, type BanCounter } from '../ratelimit/index.ts'
import { createBalance, createForward, createPools, closePools, createResponseHeaderFilter, type UpstreamRuntime } from '../upstream/index.ts'
import { createCacheStage, rfc9111, CacheTee, type CacheStore } from '../cache/index.ts'
import { DONE, type Stage } from './stage.ts'
import { runStages } from './run.ts'
import type { Exchange, RouteRef } from './exchange.ts'

export interface RuntimeServices {
  readonly log: Logger
  readonly random: Random
  readonly nextId: () => string
  /** Cluster-wide state (Redis or the primary's embedded store): rate-limit buckets, ban counts and active bans, sticky-session maps. */
  readonly state: SharedState
  /** Worker processes on this host: the rate limiter's fallback share and lease sizing. */
  readonly workers: number
  /** Wall clock in ms for the rate limiter and bans (compared across hosts). Default Date.now. */
  readonly now?: () => number
  /** A worker ejected a server (passive detection) or let it back in. */
  readonly onEjection?: (upstream: string, e: EjectionEvent) => void
  /** Random bytes for sticky session ids. Default crypto.randomFillSync. */
  readonly randomFill?: (buf: Uint8Array) => void
  /** The worker's HTTP cache (memory + shared level); required when a route has `cache`. */
  readonly cache?: CacheStore
}

export interface Runtime {
  /** The stages every request runs; the route stage continues into the route's own stages. */
  readonly stages: readonly Stage[]
  readonly upstreams: ReadonlyMap<string, UpstreamRuntime>
  /** Applies the primary's health checks: `healthy[i]` for the upstream's i-th server. Unknown names are ignored. */
  setHealth (upstream: string, healthy: readonly boolean[]): void
  /** Per upstream, per server: in-flight requests, recent errors and ejection, for the admin API's status. */
  counters (): Record<string, ServerCounters[]>
  /** Resolves once the active bans were read from shared state (or that failed: it never rejects). */
  readonly ready: Promise<void>
  /** The worker's ban table and its sync with shared state; undefined when no rate limit has a ban. */
  readonly bans: { readonly table: BanTable, readonly sync: BanSync } | undefined
  /** Closes the pools once their in-flight requests finish (bounded by graceMs). */
  close (graceMs: number): Promise<void>
}

interface CompiledRoute {
  readonly ref: RouteRef
  readonly prefix: string
  readonly strip: boolean
  readonly stages: readonly Stage[]
}

export function buildRuntime (config: Config, services: RuntimeServices): Runtime {
  const keys = createKeys(config.state?.prefix ?? 'swy')
  const now = services.now ?? Date.now
  const upstreams = new Map<string, UpstreamRuntime>()
  const stickies = new Map<string, Sticky>()
  for (const [name, u] of Object.entries(config.upstreams)) {
    const targets: Target[] = u.servers.map((s, index) => ({ index, url: s.url, weight: s.weight, inflight: 0, healthy: true }))
    let strategy = createStrategy(u.balance, targets, { random: services.random, hashBy: u.hash?.by ?? 'ip' })
    if (u.sticky !== undefined) {
      const sticky = createSticky({
        config: u.sticky,
        strategy,
        targets,
        state: services.state,
        key: (session) => keys.key('sticky', `${name}|${session}`),
        channel: keys.channel(`sticky:${name}`),
        now,
        log: services.log.child({ upstream: name, concept: 'sticky' }),
        ...(services.randomFill === undefined ? {} : { randomFill: services.randomFill })
      })
      stickies.set(name, sticky)
      // Retries of a request with a session go where every other worker would move it.
      strategy = sticky.strategy
    }
    upstreams.set(name, {
      name,
      targets,
      pools: createPools(u),
      hosts: u.servers.map((s) => new URL(s.url).host),
      strategy,
      retries: u.retries,
      states: createServerStates({ targets, config: u.passive, now, onEvent: (e) => { services.onEjection?.(name, e) } })
    })
  }
  const requestHeaders = { preserveHost: config.headers.preserve_host, via: config.headers.via }
  const filterResponse = createResponseHeaderFilter({ hide: config.headers.hide, via: config.headers.via })

  const banRules = config.routes.filter((r) => r.rate_limit?.ban !== undefined)
  let bans: Runtime['bans']
  if (banRules.length > 0) {
    const table = new BanTable({ now })
    const sync = createBanSync({
      state: services.state,
      table,
      listKey: keys.key('bans', 'active'),
      versionKey: keys.related(keys.key('bans', 'active'), 'v'),
      channel: keys.channel('bans'),
      now,
      log: services.log.child({ concept: 'ban' })
    })
    bans = { table, sync }
  }
  const counters: BanCounter[] = []
  const routes = config.routes.map((r): CompiledRoute => {
    const upstream = upstreams.get(r.upstream)!
    const id = r.match.host === undefined ? r.match.path : `${r.match.host}${r.match.path}`
    const sticky = stickies.get(r.upstream)
    // A sticky upstream's stage replaces the balance stage, and its filter the plain one: others run exactly as before.
    const cached = r.cache !== undefined
    // A route with security_headers drops the backend's copies of them; the listener writes the route's own.
    const plain = r.security_headers === undefined
      ? filterResponse
      : createResponseHeaderFilter({ hide: [...config.headers.hide, ...SECURITY_HEADER_NAMES], via: config.headers.via })
    const stages: Stage[] = sticky === undefined
      ? [createBalance(upstream), createForward({ upstream, requestHeaders, filterResponse: cached ? keepDate(plain) : plain })]
      : [sticky.stage, createForward({ upstream, requestHeaders, filterResponse: cached ? keepDate(sticky.filter(plain)) : sticky.filter(plain), onUnreachable: sticky.unreachable })]
    if (r.cache !== undefined) {
      if (services.cache === undefined) throw new Error(`route ${id} has cache but the runtime got no cache store`)
      // After access and rate limit (unshifted below), before balancing: a hit needs no server.
      const rest = stages.slice()
      stages.unshift(createCacheStage({
        routeId: id,
        config: r.cache,
        store: services.cache,
        policy: rfc9111,
        now: Date.now,
        log: services.log.child({ route: id, concept: 'cache' }),
        rest: () => rest
      }))
    }
    const rl = r.rate_limit
    if (rl !== undefined) {
      const limiter = createSharedLimiter({
        state: services.state,
        rule: rl,
        stateKey: (k) => keys.key('rl', `${id}|${k}`),
        workers: services.workers,
        now,
        log: services.log.child({ route: id, concept: 'ratelimit' })
      })
      const subject = banSubject(rl.key)
      const ban = rl.ban
      let onReject: ((key: string) => void) | undefined
      if (ban !== undefined && bans !== undefined && subject !== undefined) {
        const { sync } = bans
        const counter = createBanCounter({
          state: services.state,
          rule: ban,
          stateKey: (k) => keys.key('banc', `${id}|${k}`),
          onBan: (k, expiresAtMs) => {
            const [kind, value] = subject(k)
            sync.ban(formatBan(ban.action, kind, value), expiresAtMs)
          },
          now,
          workers: services.workers,
          log: services.log.child({ route: id, concept: 'ban' })
        })
        counters.push(counter)
        onReject = (k) => { counter.record(k) }
      }
      stages.unshift(createRateLimit({ rule: rl, key: rl.key, limiter, ...(onReject === undefined ? {} : { onReject }) }))
    }
    const access = createAccess({ allow: r.allow, deny: r.deny })
    if (access !== undefined) stages.unshift(access)
    // First in the route: cheap refusals before any token is spent or any server picked.
    const methods = r.limits?.methods ?? config.limits.methods
    stages.unshift(createLimits({
      maxBody: r.limits?.max_body ?? config.limits.max_body,
      methods,
      allMethods: HTTP_METHODS.every((m) => methods.includes(m))
    }))
    const ref: RouteRef = r.security_headers === undefined
      ? { id, upstream: r.upstream }
      : { id, upstream: r.upstream, responseHeaders: securityHeaderFields(r.security_headers) }
    return { ref, prefix: r.match.path, strip: r.strip_prefix, stages }
  })
  const router = createRouter(config.routes.map((r, i) => ({ host: r.match.host, prefix: r.match.path, value: routes[i]! })))

  const route: Stage = {
    name: 'route',
    run (ex) {
      const r = router.match(ex.host, ex.path)
      if (r === undefined) return ex.reject('SWY_ROUTE_NOT_FOUND')
      ex.route = r.ref
      if (r.strip) ex.forwardPath = stripPrefix(ex.path, r.prefix)
      const p = runStages(r.stages, ex)
      return p === undefined ? DONE : p.then(() => DONE)
    }
  }

  const guard = createGuard({ trusted: createCidrSet(config.trusted_proxies), nextId: services.nextId })
  const lim = config.limits
  const stages: Stage[] = [guard]
  if (bans !== undefined) {
    // Kinds to read per request: the address always (header and cookie keys fall back to it), and each header or
    // cookie some ban rule keys on.
    const kinds = new Set(['ip'])
    for (const r of banRules) if (r.rate_limit!.key !== 'ip') kinds.add(r.rate_limit!.key)
    stages.push(createBanCheck({ table: bans.table, kinds: [...kinds] }))
  }
  // Before the router: what routes match is what backends get.
  stages.push(createPathNormaliser({ allowEncodedSlash: lim.allow_encoded_slash, mergeSlashes: lim.merge_slashes }))
  let census: ConnectionCensus | undefined
  if (lim.max_connections_per_ip > 0) {
    census = createConnectionCensus({
      ports: config.listen.map((l) => l.port),
      cap: lim.max_connections_per_ip,
      intervalMs: 1000,
      log: services.log.child({ concept: 'client-caps' })
    })
  }
  if (census !== undefined || lim.max_inflight_per_ip > 0) stages.push(createClientCaps({ maxInflight: lim.max_inflight_per_ip, census }))
  stages.push(route)

  return {
    stages,
    upstreams,
    setHealth (name, healthy) {
      upstreams.get(name)?.states.setChecked(healthy)
    },
    counters () {
      const out: Record<string, ServerCounters[]> = {}
      for (const [name, u] of upstreams) out[name] = u.states.counters()
      return out
    },
    ready: Promise.all([bans?.sync.start(), census?.start()]).then(() => {}),
    bans,
    async close (graceMs) {
      for (const c of counters) c.close()
      census?.close()
      for (const u of upstreams.values()) u.states.close()
      await Promise.all([
        bans?.sync.close(),
        ...[...upstreams.values()].map(async (u) => { await closePools(u.pools, graceMs) }),
        ...[...stickies.values()].map(async (s) => { await s.close() })
      ])
    }
  }
}

/**
 * The response filter of a cached route: the backend's Date goes to the cache's tee (the client gets uWS's own Date,
 * but the entry's age is computed from the backend's, RFC 9111 §4.2.3). Other routes keep the plain filter.
 */
function keepDate<H> (base: (raw: readonly Buffer[], requestId: string, ex: Exchange) => H): (raw: readonly Buffer[], requestId: string, ex: Exchange) => H {
  return (raw, requestId, ex) => {
    const d = ex.downstream
    if (d instanceof CacheTee) {
      for (let i = 0; i < raw.length; i += 2) {
        const n = raw[i]!
        if (n.length === 4 && n.toString('latin1').toLowerCase() === 'date') { d.date = raw[i + 1]!.toString('latin1'); break }
      }
    }
    return base(raw, requestId, ex)
  }
}

/** `/v1/users` under `/v1/` → `/users`; the result always starts with `/`. */
export function stripPrefix (path: string, prefix: string): string {
  const keep = prefix.endsWith('/') ? prefix.length - 1 : prefix.length
  const rest = path.slice(keep)
  if (rest === '') return '/'
  return rest.charCodeAt(0) === 47 ? rest : `/${rest}`
}
