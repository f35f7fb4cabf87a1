// Shared-state operations counted and timed by backend kind: a wrapper with the SharedState interface around the
// worker's real client (Redis or the primary's embedded store), so no caller changes and a fault is counted once,
// whichever concept (rate limit, cache, sticky, bans) met it.
import { performance } from 'node:perf_hooks'
import type { SharedState } from '../state/index.ts'

/** Where the wrapper reports each operation. */
export interface StateOpSink {
  stateOp (kind: string, op: string, ms: number, failed: boolean): void
}

const OPS = ['get', 'getMany', 'set', 'del', 'setIfAbsent', 'delIfEquals', 'incr', 'takeTokens', 'addExpiring', 'listExpiring', 'removeExpiring', 'publish', 'subscribe'] as const

/** `state` with every operation but close reported to `sink` under `kind` (redis, sentinel, cluster, embedded). */
export function meterState (state: SharedState, kind: string, sink: StateOpSink): SharedState {
  const out: Record<string, unknown> = { close: async () => { await state.close() } }
  for (const op of OPS) {
    const fn = (state[op] as (...a: unknown[]) => Promise<unknown>).bind(state)
    out[op] = async (...args: unknown[]) => {
      const t0 = performance.now()
      try {
        const v = await fn(...args)
        sink.stateOp(kind, op, performance.now() - t0, false)
        return v
      } catch (err) {
        sink.stateOp(kind, op, performance.now() - t0, true)
        throw err
      }
    }
  }
  return out as unknown as SharedState
}
