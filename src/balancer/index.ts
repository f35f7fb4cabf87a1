// Public surface of the balancer: the strategy types and one factory that builds a strategy by name.
// Other folders import from here only.
import type { BalanceKind } from '../config/index.ts'
import type { Random, Strategy, Target } from './strategy.ts'
import { createRoundRobin } from './round-robin.ts'
import { createWeighted } from './weighted.ts'
import { createLeastConn } from './least-conn.ts'
import { createP2C } from './p2c.ts'
import { createHash } from './hash.ts'

export type { PickContext, Random, Strategy, Target } from './strategy.ts'
export type { HashOptions } from './hash.ts'
export { hashString } from './hash.ts'
export { SessionTable, createSessionTable, UNKNOWN, UNAVAILABLE, type SessionTableOptions, type StickyLog, type Entry as StickyEntry, type Miss } from './sticky.ts'
export { createSticky, setCookieValue, RENEW, FALLBACK, type Sticky, type StickyOptions } from './sticky-stage.ts'
export { createBalanceStage, balance } from './balance-stage.ts'

export { BALANCE_KINDS, type BalanceKind } from '../config/index.ts'

export interface StrategyOptions {
  /** Random source in [0, 1): least-conn's starting point and p2c's sampling. */
  readonly random: Random
  /** For `hash`: `'ip'` (the default), `'header:NAME'` or `'cookie:NAME'`. */
  readonly hashBy?: string
}

/** Builds the `kind` strategy over `targets`. Call once per config; the strategy keeps cross-request state. */
export function createStrategy (kind: BalanceKind, targets: readonly Target[], opts: StrategyOptions): Strategy {
  switch (kind) {
    case 'round-robin': return createRoundRobin(targets)
    case 'weighted': return createWeighted(targets)
    case 'least-conn': return createLeastConn(targets, opts.random)
    case 'p2c': return createP2C(targets, opts.random)
    case 'hash': return createHash(targets, { by: opts.hashBy ?? 'ip' })
    default: throw new TypeError(`unknown balancer kind '${String(kind satisfies never)}'`)
  }
}
