// GET /metrics: the primary's totals rendered by prom-client, in the Prometheus text format or OpenMetrics when the
// scraper asks for it (Accept). The families are plain objects prom-client formats (it escapes labels and writes
// OpenMetrics' _total and # EOF); their values are read from the totals at scrape time, so a scrape never waits on
// a worker and never resets anything.
import promClient, { type RegistryContentType } from 'prom-client'
import { BUCKETS, WORKER_FAMILIES, PRIMARY_FAMILIES, type Family, type WorkerFamily } from './families.ts'
import type { MetricsTotals, Series } from './totals.ts'
import type { CertExpiry } from './host-levels.ts'

const { Registry } = promClient

/** What the primary knows at scrape time beside the totals. */
export interface PrimaryLevels {
  readonly generation: number
  readonly workers: Readonly<Record<'starting' | 'serving' | 'draining', number>>
  readonly restarts: number
  readonly crashLooping: boolean
  readonly servers: ReadonlyArray<{ readonly upstream: string, readonly server: string, readonly up: boolean }>
  readonly connections: ReadonlyArray<{ readonly listener: string, readonly open: number }>
  readonly certs: readonly CertExpiry[]
}

interface Value { value: number, labels: Record<string, string | number>, metricName?: string }

export interface Exposition {
  /** The whole exposition; OpenMetrics when `accept` asks for application/openmetrics-text. */
  render (accept: string | undefined): Promise<{ contentType: string, text: string }>
}

export function createExposition (totals: MetricsTotals, levels: () => PrimaryLevels): Exposition {
  const text = registry(Registry.PROMETHEUS_CONTENT_TYPE, totals, levels)
  const open = registry(Registry.OPENMETRICS_CONTENT_TYPE, totals, levels)
  return {
    async render (accept) {
      const r = accept?.includes('application/openmetrics-text') === true ? open : text
      return { contentType: r.contentType, text: await r.metrics() }
    }
  }
}

function labelled (f: Family, values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  f.labels.forEach((l, i) => { out[l] = values[i] ?? '' })
  return out
}

function fromSeries (f: Family, series: readonly Series[]): Value[] {
  return series.map((s) => ({ value: s.value, labels: labelled(f, s.labels) }))
}

/** One registry per format: prom-client renames counters in place for OpenMetrics, so they cannot be shared. */
function registry (contentType: RegistryContentType, totals: MetricsTotals, levels: () => PrimaryLevels): promClient.Registry<RegistryContentType> {
  const r = new Registry<RegistryContentType>()
  r.setContentType(contentType)
  // Primary levels are read once per scrape, by the first family that needs them.
  let cached: { at: number, v: PrimaryLevels } | undefined
  const lv = (): PrimaryLevels => {
    const now = Date.now()
    if (cached === undefined || now - cached.at > 50) cached = { at: now, v: levels() }
    return cached.v
  }
  const add = (f: Family, values: () => Value[]): void => {
    // `m.name`, not f.name: for OpenMetrics prom-client drops a counter's _total from the registered name (and adds
    // it back on each sample).
    const m = { name: f.name, help: f.help, type: f.type, get: async () => ({ name: m.name, help: f.help, type: f.type, values: values(), aggregator: 'sum' }) }
    r.registerMetric(m as never)
  }
  for (const key of Object.keys(WORKER_FAMILIES) as WorkerFamily[]) {
    const f: Family = WORKER_FAMILIES[key]
    if (f.type === 'counter') add(f, () => fromSeries(f, totals.counter(f.name)))
    else if (f.type === 'gauge') add(f, () => fromSeries(f, totals.gauge(key)))
    else add(f, () => histogramValues(f, totals))
  }
  const P = PRIMARY_FAMILIES
  add(P.generation, () => [{ value: lv().generation, labels: {} }])
  add(P.reloads, () => ['ok', 'failed'].map((result) => ({ value: totals.counter(P.reloads.name).find((s) => s.labels[0] === result)?.value ?? 0, labels: { result } })))
  add(P.workers, () => Object.entries(lv().workers).map(([state, n]) => ({ value: n, labels: { state } })))
  add(P.restarts, () => [{ value: lv().restarts, labels: {} }])
  add(P.crashLoop, () => [{ value: lv().crashLooping ? 1 : 0, labels: {} }])
  add(P.serverUp, () => lv().servers.map((s) => ({ value: s.up ? 1 : 0, labels: { upstream: s.upstream, server: s.server } })))
  add(P.ejections, () => fromSeries(P.ejections, totals.counter(P.ejections.name)))
  add(P.connections, () => lv().connections.map((c) => ({ value: c.open, labels: { listener: c.listener } })))
  add(P.certNotAfter, () => lv().certs.map((c) => ({ value: c.notAfter, labels: { listener: c.listener, cert: c.cert } })))
  add(P.purges, () => [{ value: totals.counter(P.purges.name)[0]?.value ?? 0, labels: {} }])
  return r
}

function histogramValues (f: Family, totals: MetricsTotals): Value[] {
  const out: Value[] = []
  for (const h of totals.histogram(f.name)) {
    const labels = labelled(f, h.labels)
    let acc = 0
    for (let i = 0; i < BUCKETS.length; i++) {
      acc += h.counts[i]!
      out.push({ metricName: `${f.name}_bucket`, labels: { ...labels, le: BUCKETS[i]! }, value: acc })
    }
    acc += h.counts[BUCKETS.length]!
    out.push({ metricName: `${f.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: acc })
    out.push({ metricName: `${f.name}_sum`, labels, value: h.sum })
    out.push({ metricName: `${f.name}_count`, labels, value: acc })
  }
  return out
}
