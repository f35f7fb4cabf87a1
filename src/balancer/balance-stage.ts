// The balance stage: the upstream's strategy picks a healthy server for the request. Sticky upstreams run their own
// stage in its place (sticky-stage.ts), which balances through `balance` what has no session.
import { NEXT, type Exchange, type Stage, type Verdict } from '../pipeline/index.ts'
import type { Strategy } from './strategy.ts'

/** Sets the request's target from `strategy`, or answers 503 when no healthy server is left. */
export function balance (ex: Exchange, strategy: Strategy): Verdict {
  const t = strategy.pick(ex)
  if (t === undefined) return ex.reject('SWY_NO_HEALTHY_UPSTREAM')
  ex.target = t
  return NEXT
}

export function createBalanceStage (strategy: Strategy): Stage {
  return {
    name: 'balance',
    run (ex) { return balance(ex, strategy) }
  }
}
