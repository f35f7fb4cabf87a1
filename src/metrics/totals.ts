// The primary's totals: worker deltas added up (counters and histograms never go backwards when a worker dies or a
// reload replaces a generation, since only increments ever arrive), the latest gauge level of each live worker, and
// the counters the primary keeps itself. A scrape reads these and never waits on a worker.
import { BUCKETS, WORKER_FAMILIES, PRIMARY_FAMILIES, type PrimaryFamily, type WorkerFamily } from './families.ts'
import type { MetricsDelta } from './worker-metrics.ts'

export interface Series { readonly labels: readonly string[], value: number }
export interface HistSeries { readonly labels: readonly string[], readonly counts: number[], sum: number }

const KEY_SEP = '\u0000'
const NB = BUCKETS.length + 1

export class MetricsTotals {
  readonly #counters = new Map<string, Map<string, Series>>()
  readonly #hists = new Map<string, Map<string, HistSeries>>()
  /** Per live worker: family → label key → level. */
  readonly #gauges = new Map<number, Map<WorkerFamily, Map<string, Series>>>()

  /** Adds one worker's delta; malformed entries (unknown family, non-finite numbers) are skipped. */
  add (worker: number, d: MetricsDelta): void {
    for (const [fam, labels, n] of d.counters ?? []) {
      if (WORKER_FAMILIES[fam]?.type !== 'counter' || !(n > 0) || !Number.isFinite(n)) continue
      this.#inc(WORKER_FAMILIES[fam].name, labels, n)
    }
    for (const [fam, labels, counts, sum] of d.histograms ?? []) {
      if (WORKER_FAMILIES[fam]?.type !== 'histogram' || !Array.isArray(counts) || counts.length !== NB || !Number.isFinite(sum)) continue
      const m = this.#family(this.#hists, WORKER_FAMILIES[fam].name)
      const key = labels.join(KEY_SEP)
      let h = m.get(key)
      if (h === undefined) m.set(key, h = { labels: [...labels], counts: new Array<number>(NB).fill(0), sum: 0 })
      for (let i = 0; i < NB; i++) if (counts[i]! > 0) h.counts[i]! += counts[i]!
      h.sum += sum
    }
    let g = this.#gauges.get(worker)
    if (g === undefined) this.#gauges.set(worker, g = new Map())
    for (const [fam, labels, v] of d.gauges ?? []) {
      if (WORKER_FAMILIES[fam]?.type !== 'gauge' || !Number.isFinite(v)) continue
      let m = g.get(fam)
      if (m === undefined) g.set(fam, m = new Map())
      m.set(labels.join(KEY_SEP), { labels: [...labels], value: v })
    }
  }

  /** A worker exited: its gauges go (its counters stay in the totals). */
  forget (worker: number): void {
    this.#gauges.delete(worker)
  }

  /** A counter the primary keeps itself. */
  inc (fam: PrimaryFamily, labels: readonly string[], n = 1): void {
    this.#inc(PRIMARY_FAMILIES[fam].name, labels, n)
  }

  counter (name: string): readonly Series[] {
    return [...(this.#counters.get(name)?.values() ?? [])]
  }

  histogram (name: string): readonly HistSeries[] {
    return [...(this.#hists.get(name)?.values() ?? [])]
  }

  /** A worker gauge combined over the live workers as its family says (sum, max, or one series per worker). */
  gauge (fam: WorkerFamily): Series[] {
    const merge = WORKER_FAMILIES[fam].merge
    const out = new Map<string, Series>()
    for (const [worker, g] of this.#gauges) {
      for (const s of g.get(fam)?.values() ?? []) {
        if (merge === 'worker') {
          const labels = [String(worker), ...s.labels]
          out.set(labels.join(KEY_SEP), { labels, value: s.value })
          continue
        }
        const key = s.labels.join(KEY_SEP)
        const o = out.get(key)
        if (o === undefined) out.set(key, { labels: s.labels, value: s.value })
        else o.value = merge === 'max' ? Math.max(o.value, s.value) : o.value + s.value
      }
    }
    return [...out.values()]
  }

  #inc (name: string, labels: readonly string[], n: number): void {
    const m = this.#family(this.#counters, name)
    const key = labels.join(KEY_SEP)
    const s = m.get(key)
    if (s === undefined) m.set(key, { labels: [...labels], value: n })
    else s.value += n
  }

  #family<T> (all: Map<string, Map<string, T>>, name: string): Map<string, T> {
    let m = all.get(name)
    if (m === undefined) all.set(name, m = new Map())
    return m
  }
}
