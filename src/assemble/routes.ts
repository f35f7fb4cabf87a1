// One route's stages, in the order a request meets them after the route stage matched it: limits, access lists,
// rate limit, cache, balance (or sticky), upstream. A stage the route does not use is left out of the array.
import { readFileSync } from 'node:fs'
import type { Config, RouteConfig, UpstreamConfig } from '../config/index.ts'
import type { Exchange, Stage } from '../pipeline/index.ts'
import type { CompiledRoute } from '../router/index.ts'
import { createLimits, createAccess } from '../guard/index.ts'
import { createRateLimit, createSharedLimiter } from '../ratelimit/index.ts'
import { createCacheStage, keepBackendDate, rfc9111 } from '../cache/index.ts'
import { createBalanceStage } from '../balancer/index.ts'
import { createResponseHeaderFilter, type ResponseHead } from '../upstream/index.ts'
import { securityHeaderFields, SECURITY_HEADER_NAMES } from '../response/index.ts'
import { createWebSocketStage, type Relays } from '../websocket/index.ts'
import type { Bans } from '../bans/index.ts'
import type { KeySpace } from '../state/index.ts'
import type { AssembledUpstream } from './upstreams.ts'
import type { RuntimeServices } from './services.ts'

/** What every route's assembly shares. */
export interface RouteContext {
  readonly config: Config
  readonly services: RuntimeServices
  readonly keys: KeySpace
  readonly now: () => number
  readonly upstreams: ReadonlyMap<string, AssembledUpstream>
  readonly bans: Bans | undefined
  /** New W3C traceparents for requests without a valid one (one random pool per runtime). */
  readonly startTrace: () => string
  /** The runtime's open WebSocket relays (idle sweep). */
  readonly relays: Relays
}

type Filter = ReturnType<typeof createResponseHeaderFilter>

export function assembleRoute (r: RouteConfig, ctx: RouteContext): CompiledRoute {
  const { config, services } = ctx
  const id = r.match.host === undefined ? r.match.path : `${r.match.host}${r.match.path}`
  const upstream = ctx.upstreams.get(r.upstream)!
  // First: cheap refusals before any token is spent or any server picked.
  const methods = r.limits?.methods ?? config.limits.methods
  const stages: Stage[] = [createLimits({ maxBody: r.limits?.max_body ?? config.limits.max_body, methods })]
  const access = createAccess({ allow: r.allow, deny: r.deny })
  if (access !== undefined) stages.push(access)
  const rl = r.rate_limit
  if (rl !== undefined) {
    const limiter = createSharedLimiter({
      state: services.state,
      rule: rl,
      stateKey: (k) => ctx.keys.key('rl', `${id}|${k}`),
      workers: services.workers,
      now: ctx.now,
      log: services.log.child({ route: id, concept: 'ratelimit' })
    })
    const onReject = ctx.bans?.onReject(id, rl)
    stages.push(createRateLimit({ rule: rl, key: rl.key, limiter, ...(onReject === undefined ? {} : { onReject }) }))
  }
  const sticky = upstream.sticky
  // A sticky upstream's stage replaces the balance stage; its retries and response hook go with it.
  const balance = sticky?.stage ?? createBalanceStage(upstream.runtime.strategy)
  const requestHeaders = { preserveHost: config.headers.preserve_host, via: config.headers.via, startTrace: ctx.startTrace }
  const filterResponse = responseFilter(r, upstream, config)
  // Before the cache: a handshake is never cached; it is balanced and connected here.
  const uc = config.upstreams[r.upstream]!
  const maxWs = r.limits?.max_websockets ?? config.limits.max_websockets
  stages.push(createWebSocketStage({
    config: r.websocket,
    balance,
    upstream: upstream.runtime,
    requestHeaders,
    filterResponse,
    handshakeMs: uc.timeouts.connect + uc.timeouts.response,
    tls: wsTls(uc),
    maxOpen: maxWs === 0 ? 0 : Math.ceil(maxWs / services.workers),
    relays: ctx.relays,
    now: ctx.now,
    ...(services.wsMeter === undefined ? {} : { meter: services.wsMeter(id) }),
    ...(sticky === undefined ? {} : { onUnreachable: sticky.unreachable })
  }))
  if (r.cache !== undefined) {
    if (services.cache === undefined) throw new Error(`route ${id} has cache but the runtime got no cache store`)
    // After access and rate limit, before balancing: a hit needs no server.
    stages.push(createCacheStage({
      routeId: id,
      config: r.cache,
      store: services.cache,
      policy: rfc9111,
      now: Date.now,
      log: services.log.child({ route: id, concept: 'cache' })
    }))
  }
  stages.push(balance)
  stages.push(upstream.forward({
    requestHeaders,
    filterResponse,
    ...(sticky === undefined ? {} : { onUnreachable: sticky.unreachable })
  }))
  const ref = r.security_headers === undefined
    ? { id, upstream: r.upstream, stages }
    : { id, upstream: r.upstream, responseHeaders: securityHeaderFields(r.security_headers), stages }
  return { host: r.match.host, prefix: r.match.path, strip: r.strip_prefix, ref }
}

/** The `ws` client's TLS options for an upstream's wss:// servers, from its `tls` (files read once per runtime). */
function wsTls (u: UpstreamConfig): { ca?: Buffer, servername?: string, rejectUnauthorized: boolean, cert?: Buffer, key?: Buffer, passphrase?: string } {
  const t = u.tls
  if (t === undefined) return { rejectUnauthorized: true }
  return {
    rejectUnauthorized: t.verify,
    ...(t.ca === undefined ? {} : { ca: readFileSync(t.ca) }),
    ...(t.servername === undefined ? {} : { servername: t.servername }),
    ...(t.cert === undefined || t.key === undefined ? {} : { cert: readFileSync(t.cert), key: readFileSync(t.key) }),
    ...(t.passphrase === undefined ? {} : { passphrase: t.passphrase })
  }
}

/**
 * The route's response-header filter: the plain one, without the backend's security headers when the route writes
 * its own, wrapped by the sticky upstream's recording, and by the cache's (it keeps the backend's Date).
 */
function responseFilter (r: RouteConfig, upstream: AssembledUpstream, config: Config): (raw: readonly Buffer[], requestId: string, ex: Exchange) => ResponseHead {
  const plain: Filter = createResponseHeaderFilter({
    hide: r.security_headers === undefined ? config.headers.hide : [...config.headers.hide, ...SECURITY_HEADER_NAMES],
    via: config.headers.via
  })
  const base = upstream.sticky === undefined ? plain : upstream.sticky.filter(plain)
  return r.cache === undefined ? base : keepBackendDate(base)
}
