// Turns a load run's rows into ratios and markdown tables. Ratios are req/s of a Switchyard
// target divided by req/s of the baseline in the same scenario, measured in the same run.

import type { Measurement, Scenario } from './tools.ts'

/** One (scenario, target) cell: measured, failed, or skipped with the reason. */
export type Row =
  | { scenario: string, target: string, label: string, status: 'ok', measurement: Measurement }
  | { scenario: string, target: string, label: string, status: 'error' | 'skipped', reason: string }

export interface Ratio {
  scenario: string
  target: string
  /** Keyed by baseline target id (`direct`, `nginx-1`, `haproxy-1`); null when the baseline did not run. */
  rpsOver: Record<string, number | null>
}

export const BASELINES = [
  { id: 'direct', label: '÷ direct' },
  { id: 'nginx-1', label: '÷ nginx' },
  { id: 'haproxy-1', label: '÷ HAProxy' }
] as const

function rps (rows: readonly Row[], scenario: string, target: string): number | undefined {
  const r = rows.find((x) => x.scenario === scenario && x.target === target)
  return r?.status === 'ok' ? r.measurement.rps : undefined
}

export function ratios (rows: readonly Row[]): Ratio[] {
  const out: Ratio[] = []
  for (const r of rows) {
    if (r.status !== 'ok' || !r.target.startsWith('switchyard')) continue
    const rpsOver: Record<string, number | null> = {}
    for (const b of BASELINES) {
      const base = rps(rows, r.scenario, b.id)
      rpsOver[b.id] = base === undefined || base === 0 ? null : r.measurement.rps / base
    }
    out.push({ scenario: r.scenario, target: r.target, rpsOver })
  }
  return out
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US')
const fmtMs = (n: number): string => n >= 10 ? n.toFixed(1) : n.toFixed(2)
const fmtMBps = (n: number): string => (n / (1024 * 1024)).toFixed(1)

/** First line of a reason, plus its last line when the middle is a child's output tail. */
function brief (reason: string): string {
  const lines = reason.split('\n').map((l) => l.trim()).filter((l) => l !== '')
  const text = lines.length > 1 ? `${lines[0]} … ${lines[lines.length - 1]}` : lines[0] ?? ''
  return text.replaceAll('|', '\\|')
}

function table (head: readonly string[], body: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`
  const align = head.map((_, i) => i < 2 ? '---' : '---:')
  return [line(head), line(align), ...body.map(line)].join('\n')
}

export function markdown (scenarios: readonly Scenario[], rows: readonly Row[], heading: string): string {
  const titleOf = (id: string): string => scenarios.find((s) => s.id === id)?.title ?? id
  const body = rows.map((r) => r.status === 'ok'
    ? [titleOf(r.scenario), r.label, fmtInt(r.measurement.rps), fmtMs(r.measurement.p50Ms), fmtMs(r.measurement.p99Ms),
        fmtMBps(r.measurement.bytesPerSec), String(r.measurement.errors), String(r.measurement.non2xx)]
    : [titleOf(r.scenario), r.label, `${r.status}: ${brief(r.reason)}`, '', '', '', '', ''])
  const main = table(['scenario', 'target', 'req/s', 'p50 ms', 'p99 ms', 'resp MiB/s', 'errors', 'non-2xx'], body)

  const labelOf = (id: string): string => rows.find((r) => r.target === id)?.label ?? id
  const ratioRows = ratios(rows).map((q) => [titleOf(q.scenario), labelOf(q.target),
    ...BASELINES.map((b) => { const v = q.rpsOver[b.id]; return v === null || v === undefined ? 'n/a' : v.toFixed(2) })])
  const ratioTable = ratioRows.length === 0
    ? '_No Switchyard rows measured, so no ratios._'
    : table(['scenario', 'Switchyard', ...BASELINES.map((b) => b.label)], ratioRows)

  return `${heading}\n\n${main}\n\nreq/s ratios (Switchyard ÷ baseline, higher is better):\n\n${ratioTable}\n`
}
