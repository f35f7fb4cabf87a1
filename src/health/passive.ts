// Passive (outlier) detection in a worker: consecutive failures of a server (connect errors, resets, timeouts,
// 5xx answers) eject it from this worker's balancing for a while, longer each time it happens again, as Envoy's
// outlier detection and nginx's max_fails do. It also holds the primary's active-check verdicts, so a target's
// `healthy` flag, the one thing strategies read, is always `checked && !ejected`.
import type { Target } from '../pipeline/index.ts'
import type { UpstreamConfig } from '../config/index.ts'

export type PassiveConfig = UpstreamConfig['passive']

/** An ejection starting (`ejected: true`, for `forMs`) or ending. Sent to the primary for logs and status. */
export interface EjectionEvent {
  readonly url: string
  readonly ejected: boolean
  readonly forMs: number
  readonly failures: number
  readonly reason: string
}

export interface ServerCounters {
  readonly inflight: number
  /** Failures seen in the current and the previous minute. */
  readonly recentErrors: number
  readonly ejected: boolean
}

export interface ServerStates {
  /** A response head arrived: a 5xx counts as a failure, anything else resets the count. */
  response (t: Target, status: number): void
  /** The server could not be reached or did not answer (`reason`: the error code). */
  failure (t: Target, reason: string): void
  /** The primary's active checks: `healthy[i]` for the i-th server. */
  setChecked (healthy: readonly boolean[]): void
  counters (): ServerCounters[]
  /** Clears the ejection timers (the runtime is closing). */
  close (): void
}

export interface ServerStatesOptions {
  readonly targets: readonly Target[]
  readonly config: PassiveConfig
  readonly now: () => number
  readonly onEvent: (e: EjectionEvent) => void
}

interface State {
  checked: boolean
  ejectedUntil: number
  /** Consecutive failures since the last success. */
  failures: number
  /** Ejections so far; the next one lasts eject_for × 2^ejections (capped). Decays after a calm max_eject_for. */
  ejections: number
  lastEjectionEnd: number
  timer: NodeJS.Timeout | null
  errorsMinute: number
  errorsNow: number
  errorsBefore: number
}

export function createServerStates (o: ServerStatesOptions): ServerStates {
  const { targets, config: c, now } = o
  const states: State[] = targets.map(() => ({ checked: true, ejectedUntil: 0, failures: 0, ejections: 0, lastEjectionEnd: 0, timer: null, errorsMinute: 0, errorsNow: 0, errorsBefore: 0 }))
  // nginx's rule: a lone server is never taken out (there is nothing to send its requests to instead).
  const maxEjected = targets.length < 2 ? 0 : Math.max(1, Math.floor(targets.length * c.max_ejected_percent / 100))
  let ejectedCount = 0

  const apply = (i: number): void => {
    const s = states[i]!
    targets[i]!.healthy = s.checked && s.ejectedUntil === 0
  }

  const countError = (s: State): void => {
    const minute = Math.floor(now() / 60_000)
    if (minute !== s.errorsMinute) {
      s.errorsBefore = minute === s.errorsMinute + 1 ? s.errorsNow : 0
      s.errorsNow = 0
      s.errorsMinute = minute
    }
    s.errorsNow++
  }

  const restore = (i: number, reason: string): void => {
    const s = states[i]!
    if (s.timer !== null) clearTimeout(s.timer)
    s.timer = null
    s.ejectedUntil = 0
    s.failures = 0
    s.lastEjectionEnd = now()
    ejectedCount--
    apply(i)
    o.onEvent({ url: targets[i]!.url, ejected: false, forMs: 0, failures: 0, reason })
  }

  const failed = (t: Target, reason: string): void => {
    const s = states[t.index]!
    countError(s)
    s.failures++
    if (c.failures === 0 || s.failures < c.failures || s.ejectedUntil !== 0 || ejectedCount >= maxEjected) return
    const at = now()
    if (s.ejections > 0 && at - s.lastEjectionEnd > c.max_eject_for) s.ejections = 0
    const forMs = Math.min(c.max_eject_for, c.eject_for * 2 ** s.ejections)
    s.ejections++
    s.ejectedUntil = at + forMs
    ejectedCount++
    apply(t.index)
    s.timer = setTimeout(() => { restore(t.index, 'ejection over') }, forMs)
    s.timer.unref()
    o.onEvent({ url: t.url, ejected: true, forMs, failures: s.failures, reason })
  }

  return {
    response (t, status) {
      if (status >= 500) failed(t, `status ${status}`)
      else states[t.index]!.failures = 0
    },
    failure: failed,
    setChecked (healthy) {
      for (let i = 0; i < states.length; i++) {
        const h = healthy[i]
        if (h === undefined) continue
        states[i]!.checked = h
        apply(i)
      }
    },
    counters () {
      const minute = Math.floor(now() / 60_000)
      return states.map((s, i) => ({
        inflight: targets[i]!.inflight,
        recentErrors: s.errorsMinute === minute ? s.errorsNow + s.errorsBefore : s.errorsMinute === minute - 1 ? s.errorsNow : 0,
        ejected: s.ejectedUntil !== 0
      }))
    },
    close () {
      for (const s of states) if (s.timer !== null) clearTimeout(s.timer)
    }
  }
}
