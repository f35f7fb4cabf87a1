// Reading /metrics in tests: fetched from a proxy's admin listener and parsed by parse-prometheus-text-format (a
// parser that is not ours, so a formatting mistake fails the test rather than being read back the same way).
import parse from 'parse-prometheus-text-format'

/**
 * The parse of the exposition, plus each histogram's `_count` samples as a family of their own. The parser (1.1.1)
 * folds every labelled series of a histogram into one and drops their labels, so histograms are parsed a second time
 * with their TYPE line made `untyped`, which keeps `_bucket`, `_sum` and `_count` samples with their labels.
 */
export type Families = ReturnType<typeof parse>

/** GET /metrics (Prometheus text), parsed; throws on a non-200 answer or text the parser refuses. */
export async function scrape (adminUrl: string, token?: string): Promise<Families> {
  const res = await fetch(`${adminUrl}/metrics`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${text}`)
  const typed = parse(text)
  const histograms = new Set(typed.filter((f) => f.type === 'HISTOGRAM').map((f) => f.name))
  const raw = parse(text.replace(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped'))
  return [...typed, ...raw.filter((f) => histograms.has(f.name.replace(/_(bucket|sum|count)$/, '')) && f.name !== f.name.replace(/_(bucket|sum|count)$/, ''))]
}

function matches (have: Record<string, string> | undefined, want: Record<string, string>): boolean {
  return Object.entries(want).every(([k, v]) => have?.[k] === v)
}

/** Sum of the samples of counter or gauge `name` whose labels include `labels`; 0 when none. */
export function value (f: Families, name: string, labels: Record<string, string> = {}): number {
  const fam = f.find((x) => x.name === name)
  if (fam === undefined) throw new Error(`no family ${name} in /metrics`)
  return fam.metrics.filter((m) => matches(m.labels, labels)).reduce((n, m) => n + Number(m.value), 0)
}

/** Observation count of histogram `name` over the series whose labels include `labels`. */
export function histCount (f: Families, name: string, labels: Record<string, string> = {}): number {
  if (f.find((x) => x.name === name)?.type !== 'HISTOGRAM') throw new Error(`no histogram ${name} in /metrics`)
  const counts = f.find((x) => x.name === `${name}_count`)
  return (counts?.metrics ?? []).filter((m) => matches(m.labels, labels)).reduce((n, m) => n + Number(m.value), 0)
}

/** The `le` bounds of histogram `name`'s buckets (of its first series). */
export function bucketBounds (f: Families, name: string): string[] {
  const b = f.find((x) => x.name === `${name}_bucket`)?.metrics ?? []
  const first = b[0]?.labels
  return b.filter((m) => Object.entries(first ?? {}).every(([k, v]) => k === 'le' || m.labels?.[k] === v)).map((m) => m.labels?.le ?? '')
}

/** The series of family `name` (labels and value), for failure messages. */
export function series (f: Families, name: string): unknown {
  return f.find((x) => x.name === name)?.metrics
}
