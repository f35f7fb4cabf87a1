// The interleaved rounds of the load benches (`npm run bench`, `npm run bench:h2`): each round starts every target in
// turn, runs every scenario on it, reads the CPU time of the target's processes over the counted part and logs a line
// per run. Targets take turns within a round so that report.ts's ratios compare runs made minutes apart at most. Only
// how one scenario is loaded differs between the benches (autocannon or wrk, h2load), so that is what they pass in.

import { groupCpu } from './children.ts'
import type { Row } from './report.ts'
import type { RunningTarget, TargetEnv, TargetSpec } from './targets.ts'
import type { Measurement, Scenario } from './tools.ts'

/** One counted run, and what ends its log line (h2load: the TLS version and cipher it negotiated). */
export interface Measured {
  readonly measurement: Measurement
  readonly note?: string
}

export interface RoundsOptions {
  readonly rounds: number
  readonly targets: readonly TargetSpec[]
  readonly scenarios: readonly Scenario[]
  readonly env: TargetEnv
  /** Why a target sits this run out though it could run here (asked after its own `unavailable`). */
  readonly skip?: (t: TargetSpec) => string | undefined
  /** p50 and p99 as the log line prints them; as is by default. */
  readonly ms?: (ms: number) => string
  /**
   * Loads `running` with `sc`, its warm-up first. Calls `counted` where the counted part begins, for the CPU reading;
   * again (a later call wins) when the tool warms up within the run and the moment is only known by the clock.
   */
  measure (running: RunningTarget, sc: Scenario, counted: () => void): Promise<Measured>
}

/** Runs every round and returns a row per (round, target, scenario): measured, failed, or skipped with the reason. */
export async function runRounds (o: RoundsOptions): Promise<Row[]> {
  const ms = o.ms ?? String
  const rows: Row[] = []
  for (let round = 1; round <= o.rounds; round++) {
    for (const t of o.targets) {
      const base = { round, target: t.id, label: t.label }
      const skip = t.unavailable(o.env) ?? o.skip?.(t)
      if (skip !== undefined) {
        if (round === 1) console.error(`[${t.id}] skipped: ${skip}`)
        for (const sc of o.scenarios) rows.push({ ...base, scenario: sc.id, status: 'skipped', reason: skip })
        continue
      }
      let running
      try {
        running = await t.start(o.env)
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err)
        console.error(`[${t.id}] failed to start: ${reason}`)
        for (const sc of o.scenarios) rows.push({ ...base, scenario: sc.id, status: 'error', reason: `start failed: ${reason}` })
        continue
      }
      // A target with no process group of its own has no CPU reading.
      const pgid = running.pgid
      const cpuNow = (): { user: number, sys: number } | undefined => pgid === undefined ? undefined : groupCpu(pgid)
      try {
        for (const sc of o.scenarios) {
          try {
            let before: { user: number, sys: number } | undefined
            const { measurement: m, note } = await o.measure(running, sc, () => { before = cpuNow() })
            const after = cpuNow()
            const cpu = before === undefined || after === undefined || m.requests === 0
              ? undefined
              : { userUs: (after.user - before.user) * 1e6 / m.requests, sysUs: (after.sys - before.sys) * 1e6 / m.requests }
            const cpuText = cpu === undefined ? '' : `, CPU ${cpu.userUs.toFixed(1)}+${cpu.sysUs.toFixed(1)} µs/req`
            const noteText = note === undefined ? '' : `, ${note}`
            console.error(`[round ${round}] [${t.id}] ${sc.title}: ${Math.round(m.rps)} req/s, p50 ${ms(m.p50Ms)} ms, p99 ${ms(m.p99Ms)} ms${cpuText}, errors ${m.errors}, non-2xx ${m.non2xx}${noteText}`)
            rows.push({ ...base, scenario: sc.id, status: 'ok', measurement: m, ...(cpu === undefined ? {} : { cpu }) })
          } catch (err) {
            const reason = err instanceof Error ? err.message : String(err)
            console.error(`[round ${round}] [${t.id}] ${sc.title} failed: ${reason}`)
            rows.push({ ...base, scenario: sc.id, status: 'error', reason })
          }
        }
      } finally {
        await running.stop()
      }
    }
  }
  return rows
}
