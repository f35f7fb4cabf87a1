// The dashboard's one-second picture of this host, from the primary's totals: per route and per server, rates over
// the last few seconds, error rate and latency percentiles over the last minute (from histogram buckets, which the
// fleet view adds up across hosts), in-flight requests and health. A ring of per-second snapshots of the cumulative
// totals gives every window as a difference.
import { WORKER_FAMILIES, BUCKETS } from './families.ts'
import { quantile, subCounts, addCounts } from './percentile.ts'
import type { MetricsTotals } from './totals.ts'

const NB = BUCKETS.length + 1
/** Seconds kept: one minute of windows, plus the snapshot it starts from. */
const KEEP = 61
/** Rates are over this many seconds (steadier than one). */
const RATE_S = 5

interface Cum { requests: number, errors: number, limited: number, hits: number, lookups: number, hist: number[] }
interface Snapshot { readonly at: number, readonly routes: Map<string, Cum & { upstream: string }>, readonly servers: Map<string, Cum & { upstream: string, server: string }> }

/** One server's health as the primary knows it. */
export interface ServerHealthView {
  readonly upstream: string
  readonly server: string
  /** Active checks (true without checks). */
  readonly up: boolean
  readonly reason?: string
  /** Ejected by at least one worker now (passive detection). */
  readonly ejected: boolean
  /** Reason of the last passive ejection, if any. */
  readonly ejectReason?: string
  readonly inflight: number
}

export interface RowStats {
  /** Answered since the start (cumulative, as /metrics counts them). */
  readonly requests: number
  readonly errors: number
  readonly rps: number
  /** 5xx ÷ answered over the last minute, or null. */
  readonly errorRate: number | null
  readonly limitedPerS: number
  /** (hits + stale) ÷ cache lookups over the last minute, or null (no cached answers). */
  readonly hitRatio: number | null
  readonly p50: number | null
  readonly p95: number | null
  readonly p99: number | null
  /** Last minute's latency buckets (seconds bounds: BUCKETS), for merging across hosts. */
  readonly hist: number[]
}

export interface HostSummary {
  readonly host: string
  readonly at: number
  readonly generation: number
  readonly workers: number
  readonly inflight: number
  readonly total: RowStats
  readonly routes: Array<RowStats & { readonly route: string, readonly upstream: string }>
  readonly servers: Array<RowStats & ServerHealthView>
}

export class SummaryRing {
  readonly #ring: Snapshot[] = []
  readonly #totals: MetricsTotals

  constructor (totals: MetricsTotals) {
    this.#totals = totals
  }

  /** Takes this second's snapshot of the cumulative totals (call once a second). */
  tick (now: number): void {
    this.#ring.push(snapshot(this.#totals, now))
    if (this.#ring.length > KEEP) this.#ring.shift()
  }

  summary (o: { host: string, generation: number, workers: number, health: readonly ServerHealthView[] }): HostSummary {
    const ring = this.#ring
    const cur = ring.at(-1) ?? snapshot(this.#totals, Date.now())
    const rateFrom = ring[Math.max(0, ring.length - 1 - RATE_S)] ?? cur
    const minuteFrom = ring[0] ?? cur
    const dt = Math.max(1, (cur.at - rateFrom.at) / 1000)
    const row = (c: Cum, rate: Cum | undefined, minute: Cum | undefined): RowStats => {
      const hist = subCounts(c.hist, minute?.hist)
      const answered = c.requests - (minute?.requests ?? 0)
      const lookups = c.lookups - (minute?.lookups ?? 0)
      return {
        requests: c.requests,
        errors: c.errors,
        rps: (c.requests - (rate?.requests ?? 0)) / dt,
        errorRate: answered > 0 ? (c.errors - (minute?.errors ?? 0)) / answered : null,
        limitedPerS: (c.limited - (rate?.limited ?? 0)) / dt,
        hitRatio: lookups > 0 ? (c.hits - (minute?.hits ?? 0)) / lookups : null,
        p50: quantile(hist, 0.5),
        p95: quantile(hist, 0.95),
        p99: quantile(hist, 0.99),
        hist
      }
    }
    const routes = [...cur.routes].map(([route, c]) => ({ route, upstream: c.upstream, ...row(c, rateFrom.routes.get(route), minuteFrom.routes.get(route)) }))
    const total = sum([...cur.routes.values()])
    const servers = o.health.map((h) => {
      const key = `${h.upstream} ${h.server}`
      const c = cur.servers.get(key) ?? empty()
      return { ...h, ...row(c, rateFrom.servers.get(key), minuteFrom.servers.get(key)) }
    })
    const inflight = this.#totals.gauge('inflight').reduce((n, s) => n + s.value, 0)
    return {
      host: o.host,
      at: cur.at,
      generation: o.generation,
      workers: o.workers,
      inflight,
      total: row(total, sum([...rateFrom.routes.values()]), sum([...minuteFrom.routes.values()])),
      routes,
      servers
    }
  }
}

function empty (): Cum {
  return { requests: 0, errors: 0, limited: 0, hits: 0, lookups: 0, hist: new Array<number>(NB).fill(0) }
}

function sum (list: readonly Cum[]): Cum {
  const out = empty()
  for (const c of list) {
    out.requests += c.requests
    out.errors += c.errors
    out.limited += c.limited
    out.hits += c.hits
    out.lookups += c.lookups
    out.hist = addCounts(out.hist, c.hist)
  }
  return out
}

function snapshot (t: MetricsTotals, at: number): Snapshot {
  const routes = new Map<string, Cum & { upstream: string }>()
  const route = (id: string, upstream = ''): Cum & { upstream: string } => {
    let r = routes.get(id)
    if (r === undefined) routes.set(id, r = { ...empty(), upstream })
    if (upstream !== '') r.upstream = upstream
    return r
  }
  const W = WORKER_FAMILIES
  for (const s of t.counter(W.requests.name)) {
    const r = route(s.labels[0]!, s.labels[1]!)
    r.requests += s.value
    if (Number(s.labels[2]) >= 500) r.errors += s.value
  }
  for (const s of t.counter(W.rateLimited.name)) route(s.labels[0]!).limited += s.value
  for (const s of t.counter(W.cache.name)) {
    const r = route(s.labels[0]!)
    r.lookups += s.value
    if (s.labels[1] === 'hit' || s.labels[1] === 'stale') r.hits += s.value
  }
  for (const h of t.histogram(W.duration.name)) {
    const r = route(h.labels[0]!, h.labels[1]!)
    r.hist = addCounts(r.hist, h.counts)
  }
  const servers = new Map<string, Cum & { upstream: string, server: string }>()
  const server = (upstream: string, url: string): Cum & { upstream: string, server: string } => {
    const key = `${upstream} ${url}`
    let s = servers.get(key)
    if (s === undefined) servers.set(key, s = { ...empty(), upstream, server: url })
    return s
  }
  for (const h of t.histogram(W.ttfb.name)) {
    const s = server(h.labels[0]!, h.labels[1]!)
    s.hist = addCounts(s.hist, h.counts)
    s.requests += h.counts.reduce((n, c) => n + c, 0)
  }
  for (const e of t.counter(W.upstreamErrors.name)) {
    const s = server(e.labels[0]!, e.labels[1]!)
    s.errors += e.value
    s.requests += e.value
  }
  return { at, routes, servers }
}

/** The fleet: every host's summary and their sum, with percentiles from the summed buckets. */
export function fleetTotal (hosts: readonly HostSummary[]): RowStats & { readonly inflight: number } {
  let hist = new Array<number>(NB).fill(0)
  let requests = 0
  let errors = 0
  let rps = 0
  let limitedPerS = 0
  let inflight = 0
  let answered = 0
  let failed = 0
  for (const h of hosts) {
    hist = addCounts(hist, h.total.hist)
    requests += h.total.requests
    errors += h.total.errors
    rps += h.total.rps
    limitedPerS += h.total.limitedPerS
    inflight += h.inflight
    const n = h.total.hist.reduce((a, b) => a + b, 0)
    answered += n
    failed += (h.total.errorRate ?? 0) * n
  }
  return {
    requests, errors, rps, limitedPerS, inflight, hist,
    errorRate: answered > 0 ? failed / answered : null,
    hitRatio: null,
    p50: quantile(hist, 0.5),
    p95: quantile(hist, 0.95),
    p99: quantile(hist, 0.99)
  }
}
