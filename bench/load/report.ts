// Turns a load run's rows into per-target medians and ratios, and those into markdown. A ratio is req/s of a target
// over req/s of a baseline in the same scenario and the same round (targets take turns within a round), so it
// compares runs made minutes apart at most; the median over rounds is reported with its spread.

import type { Measurement, Scenario } from './tools.ts'

/** One (round, scenario, target) cell: measured, failed, or skipped with the reason. */
export type Row =
  | { round: number, scenario: string, target: string, label: string, status: 'ok', measurement: Measurement, cpu?: { userUs: number, sysUs: number } }
  | { round: number, scenario: string, target: string, label: string, status: 'error' | 'skipped', reason: string }

/** A number's median over rounds, with the lowest and highest value. */
export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly n: number
}

export interface Summary {
  readonly scenario: string
  readonly target: string
  readonly label: string
  /** Undefined when no round measured it; then `reason` says why. */
  readonly rps?: Spread
  readonly p99Ms?: Spread
  readonly cpuUserUs?: Spread
  readonly cpuSysUs?: Spread
  /** CPU seconds the target's processes used per second of the run: 1 is one core full. */
  readonly cores?: Spread
  /** Ratios of req/s to each baseline, taken round by round. */
  readonly over: Record<string, Spread | undefined>
  /** p99 over the baseline's p99, round by round. */
  readonly p99Over: Record<string, Spread | undefined>
  readonly errors: number
  readonly non2xx: number
  readonly reason?: string
}

/** A target the others are divided by, and its column's heading. The first one is also p99's baseline. */
export interface Baseline {
  readonly id: string
  readonly label: string
}

export const BASELINES: readonly Baseline[] = [
  { id: 'nginx-1', label: '× nginx' },
  { id: 'haproxy-1', label: '× HAProxy' }
]

export function spread (xs: readonly number[]): Spread | undefined {
  if (xs.length === 0) return undefined
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
  return { median, min: s[0]!, max: s.at(-1)!, n: s.length }
}

export function summarise (scenarios: readonly Scenario[], rows: readonly Row[], baselines: readonly Baseline[] = BASELINES): Summary[] {
  const out: Summary[] = []
  const targets = [...new Map(rows.map((r) => [r.target, r.label])).entries()]
  const ok = (sc: string, target: string): Array<Extract<Row, { status: 'ok' }>> =>
    rows.filter((r): r is Extract<Row, { status: 'ok' }> => r.status === 'ok' && r.scenario === sc && r.target === target)
  for (const sc of scenarios) {
    for (const [target, label] of targets) {
      const mine = ok(sc.id, target)
      const over: Record<string, Spread | undefined> = {}
      const p99Over: Record<string, Spread | undefined> = {}
      for (const b of baselines) {
        const base = ok(sc.id, b.id)
        const pairs = mine.map((r) => [r, base.find((x) => x.round === r.round)] as const).filter(([, x]) => x !== undefined && x.measurement.rps > 0)
        over[b.id] = spread(pairs.map(([r, x]) => r.measurement.rps / x!.measurement.rps))
        p99Over[b.id] = spread(pairs.filter(([, x]) => x!.measurement.p99Ms > 0).map(([r, x]) => r.measurement.p99Ms / x!.measurement.p99Ms))
      }
      const failed = rows.find((r) => r.scenario === sc.id && r.target === target && r.status !== 'ok')
      const s: Summary = {
        scenario: sc.id,
        target,
        label,
        over,
        p99Over,
        errors: mine.reduce((n, r) => n + r.measurement.errors, 0),
        non2xx: mine.reduce((n, r) => n + r.measurement.non2xx, 0),
        ...(mine.length === 0 ? {} : {
          rps: spread(mine.map((r) => r.measurement.rps))!,
          p99Ms: spread(mine.map((r) => r.measurement.p99Ms))!
        }),
        ...(mine.some((r) => r.cpu === undefined) || mine.length === 0 ? {} : {
          cpuUserUs: spread(mine.map((r) => r.cpu!.userUs))!,
          cpuSysUs: spread(mine.map((r) => r.cpu!.sysUs))!,
          cores: spread(mine.map((r) => r.measurement.rps * (r.cpu!.userUs + r.cpu!.sysUs) / 1e6))!
        }),
        ...(failed !== undefined && failed.status !== 'ok' ? { reason: `${failed.status}: ${failed.reason}` } : {})
      }
      out.push(s)
    }
  }
  return out
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US')
const fmtMs = (n: number): string => n >= 10 ? n.toFixed(1) : n.toFixed(2)
const fmtRatio = (s: Spread | undefined): string => s === undefined ? 'n/a' : s.n > 1 ? `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})` : s.median.toFixed(2)
const fmtRange = (s: Spread, f: (n: number) => string): string => s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median)

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

export function markdown (scenarios: readonly Scenario[], summary: readonly Summary[], heading: string, baselines: readonly Baseline[] = BASELINES): string {
  const p99Base = baselines[0]
  const titleOf = (id: string): string => scenarios.find((s) => s.id === id)?.title ?? id
  const body = summary.map((s) => s.rps === undefined
    ? [titleOf(s.scenario), s.label, brief(s.reason ?? 'not measured'), ...baselines.map(() => ''), '', '', '', '', '']
    : [
        titleOf(s.scenario), s.label, fmtRange(s.rps, fmtInt), ...baselines.map((b) => fmtRatio(s.over[b.id])),
        fmtMs(s.p99Ms!.median), p99Base === undefined ? 'n/a' : fmtRatio(s.p99Over[p99Base.id]),
        s.cpuUserUs === undefined ? 'n/a' : `${s.cpuUserUs.median.toFixed(1)} + ${s.cpuSysUs!.median.toFixed(1)}`,
        s.cores === undefined ? 'n/a' : s.cores.median.toFixed(2),
        `${s.errors}/${s.non2xx}`
      ])
  const main = table(['scenario', 'target', 'req/s median (min–max)', ...baselines.map((b) => `${b.label} (min–max)`), 'p99 ms', `p99 ${p99Base?.label ?? '× baseline'}`, 'CPU µs/req user + kernel', 'cores busy', 'errors/non-2xx'], body)
  return `${heading}\n\n${main}\n`
}
