// A worker's metrics on the hot path: plain numbers in typed arrays, no prom-client and no label strings per request.
// Once a second the worker calls collect() and sends the deltas since the last call to its primary (IPC), which
// keeps the totals (totals.ts): a worker that dies loses at most its last second, and totals never go backwards.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import type { Exchange, RouteRef } from '../pipeline/index.ts'
import type { Config } from '../config/index.ts'
import { BUCKETS, bucketOf, type WorkerFamily } from './families.ts'

/** What a worker sends its primary about once a second: increments since its last message, and its gauges' levels. */
export interface MetricsDelta {
  /** [family, label values, increment]. */
  readonly counters: Array<[WorkerFamily, string[], number]>
  /** [family, label values, per-bucket counts (not cumulative; the last is +Inf), sum of observations in seconds]. */
  readonly histograms: Array<[WorkerFamily, string[], number[], number]>
  /** [family, label values, level now]. */
  readonly gauges: Array<[WorkerFamily, string[], number]>
}

/** A server as the upstream stage knows it (balancer Target): a stable object per server and config. */
export interface ServerKey { readonly url: string }

/** What the upstream stage reports about failed attempts and retries. */
export interface UpstreamMeter {
  failure (server: ServerKey, code: string): void
  retry (server: ServerKey): void
}

/** Levels the worker reads at collect time. */
export interface WorkerLevels {
  readonly inflight: number
  readonly bans?: number
  /** Per upstream, per server (config order): its URL, requests in flight, ejected by this worker. */
  readonly servers?: Readonly<Record<string, ReadonlyArray<{ readonly url: string, readonly inflight: number, readonly ejected: boolean }>>>
  readonly cache?: { readonly memoryBytes: number, readonly memoryEntries: number, readonly fills: number }
}

const NB = BUCKETS.length + 1

class Hist {
  readonly counts = new Float64Array(NB)
  sum = 0
  n = 0
  observe (ms: number): void {
    this.counts[bucketOf(ms)]!++
    this.sum += ms
    this.n++
  }

  take (family: WorkerFamily, labels: string[], out: MetricsDelta): void {
    if (this.n === 0) return
    out.histograms.push([family, labels, Array.from(this.counts), this.sum / 1000])
    this.counts.fill(0)
    this.sum = 0
    this.n = 0
  }
}

class RouteSlot {
  readonly codes = new Float64Array(600)
  readonly duration = new Hist()
  bytesIn = 0
  bytesOut = 0
  limited = 0
  admitted = 0
  denied = 0
  hit = 0
  miss = 0
  stale = 0
  bypass = 0
  readonly route: string
  readonly upstream: string
  readonly rateLimited: boolean
  constructor (route: string, upstream: string, rateLimited: boolean) {
    this.route = route
    this.upstream = upstream
    this.rateLimited = rateLimited
  }
}

class ServerSlot {
  readonly ttfb = new Hist()
  retries = 0
  connect = 0
  timeouts = 0
  readonly errors = new Map<string, number>()
  readonly upstream: string
  readonly server: string
  constructor (upstream: string, server: string) {
    this.upstream = upstream
    this.server = server
  }
}

/** A route's WebSocket counters; the relay adds to them (websocket/relay.ts WsMeter), collect() reads them. */
class WsSlot {
  open = 0
  messagesIn = 0
  bytesIn = 0
  messagesOut = 0
  bytesOut = 0
}

/** Classified upstream errors that mean the server could not be reached (a connect timeout counts as a timeout). */
const CONNECT_CODES = new Set(['SWY_UPSTREAM_UNREACHABLE', 'SWY_UPSTREAM_TLS'])
/** Codes refused before a route's rate limit runs (limits and access lists come first: assemble/routes.ts). */
const BEFORE_RATE_LIMIT = new Set(['SWY_METHOD_NOT_ALLOWED', 'SWY_REQUEST_TOO_LARGE', 'SWY_ACCESS_DENIED', 'SWY_RATE_LIMITED'])

export class WorkerMetrics {
  readonly #routes = new Map<RouteRef, RouteSlot>()
  readonly #servers = new Map<ServerKey, ServerSlot>()
  readonly #none = new RouteSlot('', '', false)
  readonly #ws = new Map<string, WsSlot>()
  readonly #rateLimited: ReadonlySet<string>
  readonly #state = new Map<string, { ops: Map<string, number>, faults: Map<string, number>, latency: Hist }>()
  #banned = 0
  #cpu = process.cpuUsage()
  #fills = 0
  readonly #loop: IntervalHistogram

  constructor (config: Pick<Config, 'routes'>) {
    this.#loop = monitorEventLoopDelay({ resolution: 10 })
    this.#loop.enable()
    this.#rateLimited = new Set(config.routes.filter((r) => r.rate_limit !== undefined).map((r) => r.match.host === undefined ? r.match.path : `${r.match.host}${r.match.path}`))
  }

  /** A finished request (answered, refused or aborted); `now` on the same clock as ex.startTime. */
  completed (ex: Exchange, now: number): void {
    const r = ex.route
    const slot = r === null ? this.#none : this.#routes.get(r) ?? this.#addRoute(r)
    const status = ex.aborted && ex.status === 0 ? 499 : ex.status
    slot.codes[status >= 100 && status < 600 ? status : 0]!++
    slot.duration.observe(now - ex.startTime)
    slot.bytesOut += ex.bytesSent
    const body = ex.body
    if (body !== null) slot.bytesIn += body.received
    const code = ex.errorCode
    if (code !== null) {
      if (code === 'SWY_RATE_LIMITED') slot.limited++
      else if (code === 'SWY_ACCESS_DENIED') slot.denied++
      else if (code === 'SWY_BANNED') this.#banned++
    }
    if (slot.rateLimited && (code === null || !BEFORE_RATE_LIMIT.has(code))) slot.admitted++
    const cs = ex.cacheStatus
    if (cs !== null) {
      if (cs === 'HIT') slot.hit++
      else if (cs === 'MISS') slot.miss++
      else if (cs === 'STALE') slot.stale++
      else slot.bypass++
    }
    const t = ex.target
    if (t !== null && ex.upstreamTtfb >= 0 && r !== null) (this.#servers.get(t) ?? this.#addServer(r.upstream, t)).ttfb.observe(ex.upstreamTtfb)
  }

  /** The meter the upstream stage of upstream `name` reports failures and retries to. */
  upstream (name: string): UpstreamMeter {
    const slot = (s: ServerKey): ServerSlot => this.#servers.get(s) ?? this.#addServer(name, s)
    return {
      failure: (s, code) => {
        const x = slot(s)
        if (CONNECT_CODES.has(code)) x.connect++
        else if (code === 'SWY_UPSTREAM_TIMEOUT') x.timeouts++
        x.errors.set(code, (x.errors.get(code) ?? 0) + 1)
      },
      retry: (s) => { slot(s).retries++ }
    }
  }

  /** Route `route`'s WebSocket counters, for its relays to add to. */
  websocket (route: string): WsSlot {
    let s = this.#ws.get(route)
    if (s === undefined) this.#ws.set(route, s = new WsSlot())
    return s
  }

  /** Counts one shared-state operation of backend `kind` (redis, sentinel, cluster, embedded). */
  stateOp (kind: string, op: string, ms: number, failed: boolean): void {
    let k = this.#state.get(kind)
    if (k === undefined) this.#state.set(kind, k = { ops: new Map(), faults: new Map(), latency: new Hist() })
    k.ops.set(op, (k.ops.get(op) ?? 0) + 1)
    if (failed) k.faults.set(op, (k.faults.get(op) ?? 0) + 1)
    k.latency.observe(ms)
  }

  /** Everything since the last call, as a delta for the primary; counters restart from zero here. */
  collect (levels: WorkerLevels): MetricsDelta {
    const out: MetricsDelta = { counters: [], histograms: [], gauges: [] }
    const c = (family: WorkerFamily, labels: string[], n: number): void => { if (n !== 0) out.counters.push([family, labels, n]) }
    for (const s of [this.#none, ...this.#routes.values()]) {
      const codes = s.codes
      for (let i = 0; i < codes.length; i++) {
        if (codes[i] === 0) continue
        c('requests', [s.route, s.upstream, String(i)], codes[i]!)
        codes[i] = 0
      }
      s.duration.take('duration', [s.route, s.upstream], out)
      c('bytesIn', [s.route], s.bytesIn)
      c('bytesOut', [s.route], s.bytesOut)
      c('rateLimited', [s.route], s.limited)
      c('rateAdmitted', [s.route], s.admitted)
      c('denied', [s.route], s.denied)
      c('cache', [s.route, 'hit'], s.hit)
      c('cache', [s.route, 'miss'], s.miss)
      c('cache', [s.route, 'stale'], s.stale)
      c('cache', [s.route, 'bypass'], s.bypass)
      s.bytesIn = s.bytesOut = s.limited = s.admitted = s.denied = s.hit = s.miss = s.stale = s.bypass = 0
    }
    for (const [route, w] of this.#ws) {
      c('wsMessages', [route, 'in'], w.messagesIn)
      c('wsMessages', [route, 'out'], w.messagesOut)
      c('wsBytes', [route, 'in'], w.bytesIn)
      c('wsBytes', [route, 'out'], w.bytesOut)
      w.messagesIn = w.messagesOut = w.bytesIn = w.bytesOut = 0
      out.gauges.push(['wsOpen', [route], w.open])
    }
    c('banned', [], this.#banned)
    this.#banned = 0
    for (const s of this.#servers.values()) {
      s.ttfb.take('ttfb', [s.upstream, s.server], out)
      c('retries', [s.upstream, s.server], s.retries)
      c('connectFailures', [s.upstream, s.server], s.connect)
      c('timeouts', [s.upstream, s.server], s.timeouts)
      for (const [code, n] of s.errors) c('upstreamErrors', [s.upstream, s.server, code], n)
      s.errors.clear()
      s.retries = s.connect = s.timeouts = 0
    }
    for (const [kind, k] of this.#state) {
      for (const [op, n] of k.ops) c('stateOps', [kind, op], n)
      for (const [op, n] of k.faults) c('stateFaults', [kind, op], n)
      k.ops.clear()
      k.faults.clear()
      k.latency.take('stateLatency', [kind], out)
    }
    const cpu = process.cpuUsage(this.#cpu)
    this.#cpu = process.cpuUsage()
    c('cpu', [], (cpu.user + cpu.system) / 1e6)
    out.gauges.push(['inflight', [], levels.inflight], ['rss', [], process.memoryUsage.rss()])
    const loop = this.#loop
    out.gauges.push(['loopDelay', ['0.5'], loop.percentile(50) / 1e9], ['loopDelay', ['0.99'], loop.percentile(99) / 1e9], ['loopDelay', ['1'], loop.max / 1e9])
    loop.reset()
    if (levels.bans !== undefined) out.gauges.push(['bans', [], levels.bans])
    for (const [upstream, list] of Object.entries(levels.servers ?? {})) {
      for (const s of list) out.gauges.push(['serverInflight', [upstream, s.url], s.inflight], ['serverEjected', [upstream, s.url], s.ejected ? 1 : 0])
    }
    const cache = levels.cache
    if (cache !== undefined) {
      out.gauges.push(['cacheMemory', [], cache.memoryBytes], ['cacheEntries', [], cache.memoryEntries])
      c('cacheFills', [], cache.fills - this.#fills)
      this.#fills = cache.fills
    }
    return out
  }

  close (): void {
    this.#loop.disable()
  }

  #addRoute (r: RouteRef): RouteSlot {
    const s = new RouteSlot(r.id, r.upstream, this.#rateLimited.has(r.id))
    this.#routes.set(r, s)
    return s
  }

  #addServer (upstream: string, t: ServerKey): ServerSlot {
    const s = new ServerSlot(upstream, t.url)
    this.#servers.set(t, s)
    return s
  }
}
