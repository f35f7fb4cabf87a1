// Bans as one concept, built once per config: the worker's table of active bans, its sync with the cluster, the
// global check stage (right after the guard), and a rejection counter per rate limit that has a `ban` rule.
// Nothing exists when no rate limit has a ban.
import type { RouteConfig } from '../config/index.ts'
import type { KeySpace, SharedState } from '../state/index.ts'
import { banSubject } from '../ratelimit/index.ts'
import type { Stage } from '../pipeline/index.ts'
import { BanTable, formatBan } from './ban-table.ts'
import { createBanSync, type BanLog, type BanSync } from './ban-sync.ts'
import { createBanCheck } from './ban-check.ts'
import { createBanCounter, type BanCounter } from './ban-counter.ts'

export interface BansOptions {
  readonly routes: readonly RouteConfig[]
  readonly state: SharedState
  readonly keys: KeySpace
  /** Wall clock, ms (ban expiries are compared across hosts). */
  readonly now: () => number
  /** Workers on this host: how soon a key's rejections are flushed. */
  readonly workers: number
  /** A logger for a concept (`concept: 'ban'`, plus `route` for a counter). */
  readonly log: (fields: Record<string, string>) => BanLog
}

export interface Bans {
  readonly table: BanTable
  readonly sync: BanSync
  /** The global check: a banned client gets 403 SWY_BANNED, or its connection closed. */
  readonly stage: Stage
  /**
   * What the rate limit of route `routeId` calls on each refused request, when its rule has a ban (its counter);
   * undefined otherwise.
   */
  onReject (routeId: string, rule: NonNullable<RouteConfig['rate_limit']>): ((key: string) => void) | undefined
  /** Resolves once the active bans were read from shared state (or that failed: it never rejects). */
  readonly ready: Promise<void>
  close (): Promise<void>
}

export function createBans (o: BansOptions): Bans | undefined {
  const rules = o.routes.filter((r) => r.rate_limit?.ban !== undefined)
  if (rules.length === 0) return undefined
  const { keys, now } = o
  const table = new BanTable({ now })
  const sync = createBanSync({
    state: o.state,
    table,
    listKey: keys.key('bans', 'active'),
    versionKey: keys.related(keys.key('bans', 'active'), 'v'),
    channel: keys.channel('bans'),
    now,
    log: o.log({ concept: 'ban' })
  })
  // Kinds to read per request: the address always (header and cookie keys fall back to it), and each header or
  // cookie some ban rule keys on.
  const kinds = new Set(['ip'])
  for (const r of rules) if (r.rate_limit!.key !== 'ip') kinds.add(r.rate_limit!.key)
  const counters: BanCounter[] = []
  return {
    table,
    sync,
    stage: createBanCheck({ table, kinds: [...kinds] }),
    onReject (routeId, rl) {
      const ban = rl.ban
      const subject = banSubject(rl.key)
      if (ban === undefined || subject === undefined) return undefined
      const counter = createBanCounter({
        state: o.state,
        rule: ban,
        stateKey: (k) => keys.key('banc', `${routeId}|${k}`),
        onBan: (k, expiresAtMs) => {
          const [kind, value] = subject(k)
          sync.ban(formatBan(ban.action, kind, value), expiresAtMs)
        },
        now,
        workers: o.workers,
        log: o.log({ route: routeId, concept: 'ban' })
      })
      counters.push(counter)
      return (k) => { counter.record(k) }
    },
    ready: sync.start(),
    async close () {
      for (const c of counters) c.close()
      await sync.close()
    }
  }
}
