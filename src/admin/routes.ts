// What the admin API answers: status of the running generation and its upstreams, and reloads.
import type { Config } from '../config/index.ts'
import type { WorkerInfo, FromWorker, ReloadOutcome } from '../cluster/index.ts'
import type { ActiveHealth } from '../health/index.ts'
import type { AdminRoute } from './api.ts'
import type { CacheStoreStats } from '../cache/store/index.ts'

export interface AdminContext {
  readonly supervisor: {
    readonly generation: number
    readonly config: Config
    status (): WorkerInfo[]
    restarts (): { readonly recent: number, readonly windowMs: number, readonly backoffMs: number }
    stats (): Promise<Array<Extract<FromWorker, { type: 'stats' }>>>
  }
  /** The serving generation's health checks, if any upstream has them. */
  readonly health: () => ActiveHealth | undefined
  readonly reload: (why: string) => Promise<ReloadOutcome>
  /** Where the config came from (a file name). */
  readonly source: string
  /** Runtime membership of one server: where it comes from, and whether the admin API drains it. */
  readonly member?: (upstream: string, url: string) => { readonly origin: string, readonly draining: boolean }
}

export function createAdminRoutes (c: AdminContext): AdminRoute[] {
  const started = Date.now()
  return [
    {
      method: 'GET',
      path: '/api/status',
      handler: async () => {
        const config = c.supervisor.config
        const checked = c.health()?.status() ?? {}
        const stats = await c.supervisor.stats()
        const upstreams: Record<string, unknown> = {}
        for (const [name, u] of Object.entries(config.upstreams)) {
          upstreams[name] = {
            balance: u.balance,
            health_checks: u.health !== undefined,
            servers: u.servers.map((s, i) => {
              const h = checked[name]?.[i]
              let inflight = 0
              let recentErrors = 0
              let ejectedBy = 0
              for (const w of stats) {
                const x = w.upstreams[name]?.[i]
                if (x === undefined) continue
                inflight += x.inflight
                recentErrors += x.recentErrors
                if (x.ejected) ejectedBy++
              }
              const m = c.member?.(name, s.url)
              return {
                url: s.url,
                weight: s.weight,
                origin: m?.origin ?? 'config',
                draining: m?.draining ?? false,
                healthy: h?.healthy ?? true,
                ...(h?.reason === undefined ? {} : { reason: h.reason }),
                inflight,
                recent_errors: recentErrors,
                ejected_by_workers: ejectedBy
              }
            })
          }
        }
        return {
          status: 200,
          body: {
            generation: c.supervisor.generation,
            config: c.source,
            pid: process.pid,
            uptime_s: Math.round((Date.now() - started) / 1000),
            restarts: (({ recent, windowMs, backoffMs }) => ({ recent, window_s: windowMs / 1000, next_backoff_ms: backoffMs, crash_loop: recent >= 5 }))(c.supervisor.restarts()),
            workers: c.supervisor.status().map((w) => ({ id: w.id, pid: w.pid, generation: w.generation, state: w.state, uptime_s: Math.round((Date.now() - w.startedAt) / 1000) })),
            upstreams,
            ...cacheStatus(stats)
          }
        }
      }
    },
    {
      method: 'POST',
      path: '/api/reload',
      handler: async () => {
        const r = await c.reload('admin API')
        return { status: r.status, body: r }
      }
    }
  ]
}

/**
 * The cache's answers and memory summed over the serving workers, when any route caches: `hit_ratio` is
 * (hits + stale) ÷ every cached-route GET/HEAD answered, or null before the first.
 */
function cacheStatus (stats: ReadonlyArray<Extract<FromWorker, { type: 'stats' }>>): { cache?: Record<string, number | boolean | null> } {
  const per = stats.flatMap((w) => w.cache === undefined ? [] : [w.cache])
  if (per.length === 0) return {}
  const sum = (f: (s: CacheStoreStats) => number): number => per.reduce((n, s) => n + f(s), 0)
  const hits = sum((s) => s.hits)
  const stale = sum((s) => s.stale)
  const misses = sum((s) => s.misses)
  const bypass = sum((s) => s.bypass)
  const answered = hits + stale + misses + bypass
  return {
    cache: {
      hits,
      misses,
      stale,
      bypass,
      hit_ratio: answered === 0 ? null : Math.round(10_000 * (hits + stale) / answered) / 10_000,
      memory_bytes: sum((s) => s.memoryBytes),
      memory_entries: sum((s) => s.memoryEntries),
      shared_faults: sum((s) => s.faults),
      degraded_workers: per.filter((s) => s.degraded).length
    }
  }
}
