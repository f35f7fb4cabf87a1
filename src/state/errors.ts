// The one error a SharedState rejects with for a transport fault, so callers can degrade on a single code.
import { SwitchyardError } from '../errors/index.ts'

/**
 * The state backend did not answer: Redis down, unreachable or slower than the command timeout, a Cluster without
 * a ready slot owner, or the primary not answering a worker's embedded-state request. `cause` holds the original
 * error. Callers branch on `err.code === 'SWY_STATE_UNAVAILABLE'` and fall back to their documented degraded result.
 */
export class StateUnavailableError extends SwitchyardError {
  constructor (message: string, cause?: unknown) {
    super('SWY_STATE_UNAVAILABLE', message, { cause })
    this.name = 'StateUnavailableError'
  }
}

/** `err` as a StateUnavailableError (kept as is when it already is one). */
export function unavailable (err: unknown, what: string): StateUnavailableError {
  if (err instanceof StateUnavailableError) return err
  return new StateUnavailableError(`${what}: ${(err as Error | undefined)?.message ?? String(err)}`, err)
}
