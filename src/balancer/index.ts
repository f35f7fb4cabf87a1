// Public surface of the balancer: the strategy types and one factory that builds a strategy by name.
// Other folders import from here only.
import type { Random, Strategy, Target } from './strategy.js'
import { createRoundRobin } from './round-robin.js'
import { createWeighted } from './weighted.js'
import { createLeastConn } from './least-conn.js'
import { createP2C } from './p2c.js'
import { createHash } from './hash.js'

export type { PickContext, Random, Strategy, Target } from './strategy.js'
export type { HashOptions } from './hash.js'
export { hashString } from './hash.js'
export { SessionTable, createSessionTable, UNKNOWN, UNAVAILABLE, type SessionTableOptions, type StickyLog, type Entry as StickyEntry, type Miss } from './sticky.js'
export { createSticky, setCookieValue, RENEW, FALLBACK, type Sticky, type StickyOptions } from './sticky-stage.js'

/** Every strategy name, e.g. for the config schema's enum. */
export const BALANCE_KINDS = ['round-robin', 'weighted', 'least-conn', 'p2c', 'hash'] as const

export type BalanceKind = typeof BALANCE_KINDS[number]

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
