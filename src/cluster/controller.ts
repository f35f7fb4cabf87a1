// The primary's brain, between the supervisor (processes) and the outside (signals, admin API): which config each
// generation runs (the file plus runtime membership), its health checks and drained servers, reloads, and the
// membership it keeps in step with every other host through shared state. One change at a time, in order.
import type { Logger } from 'pino'
import { ConfigError, engineMoves, type Config } from '../config/index.ts'
import { EmbeddedStore, createRedisState, createKeys, redisTargetOf, type SharedState } from '../state/index.ts'
import { createActiveHealth, type ActiveHealth } from '../health/index.ts'
import { createCacheStore, type CacheStoreHandle, type PurgeSelector } from '../cache/store/index.ts'
import { createMembershipStore, overlay, sameServers, EMPTY_SNAPSHOT, type MembershipSnapshot, type MembershipStore, type Overlaid } from '../membership/index.ts'
import { Supervisor, workerCount } from './supervisor.ts'
import { probeListen } from './listen-probe.ts'
import type { ToWorker } from './messages.ts'
import { MetricsTotals } from '../metrics/index.ts'

/** How often membership is re-read without an announcement: discovery TTLs need the short one. */
const POLL_DISCOVERY_MS = 1000
const POLL_MEMBERS_MS = 5000
const WARN_EVERY_MS = 10_000
/** Announcements come in bursts (heartbeats, several admin calls): one re-read per 100 ms is enough. */
const DEBOUNCE_MS = 100

export type ReloadOutcome =
  | { readonly ok: true, readonly status: 200, readonly generation: number, readonly workers: number, readonly ms: number }
  | { readonly ok: false, readonly status: number, readonly error: string, readonly message: string, readonly problems?: ReadonlyArray<{ readonly path: string, readonly reason: string }> }

export interface ControllerOptions {
  readonly config: Config
  /** Reads the config file again (same file, same command-line overrides); throws ConfigError. */
  readonly reread: () => Config
  /** Worker entry file. */
  readonly exec: string
  readonly log: Logger
  /** The store the primary serves to its workers when no Redis is configured. */
  readonly embedded: EmbeddedStore
}

export class Controller {
  readonly supervisor: Supervisor
  /** Metric totals: workers' deltas and what the controller counts itself (reloads, ejections, purges). */
  readonly metrics = new MetricsTotals()
  /** The last passive ejection of each server (`upstream url`), for the dashboard. */
  readonly lastEjection = new Map<string, { reason: string, at: number }>()
  readonly #o: ControllerOptions
  readonly #log: Logger
  #state: SharedState
  #store!: MembershipStore
  #file: Config
  #snapshot: MembershipSnapshot = EMPTY_SNAPSHOT
  /** The membership the serving generation runs (origins and draining), for status. */
  #served: Overlaid
  readonly #health = new Map<number, ActiveHealth>()
  readonly #draining = new Map<number, Overlaid['draining']>()
  #nextGeneration = 2
  #queue: Promise<unknown> = Promise.resolve()
  #stopping = false
  #lastWarn = 0
  #unsubscribe: (() => Promise<void>) | undefined
  #pending: NodeJS.Timeout | undefined
  #poll: NodeJS.Timeout | undefined
  /** A memory-less cache store on the primary's state: purges reach the shared level and every worker. */
  #cache: CacheStoreHandle | undefined

  constructor (o: ControllerOptions) {
    this.#o = o
    this.#log = o.log
    this.#file = o.config
    this.#state = o.embedded
    this.#served = overlay(o.config, EMPTY_SNAPSHOT)
    this.supervisor = new Supervisor({
      config: o.config,
      log: o.log,
      exec: o.exec,
      snapshot: (g) => this.#healthMessages(g),
      onExit: (w) => { this.metrics.forget(w.id) },
      onMessage: (w, m) => {
        if (m.type === 'metrics') { this.metrics.add(w.id, m.delta); return }
        if (m.type !== 'ejection') return
        if (m.ejected) {
          this.metrics.inc('ejections', [m.upstream, m.url])
          this.lastEjection.set(`${m.upstream} ${m.url}`, { reason: m.reason, at: Date.now() })
        }
        const fields = { worker: w.id, generation: w.generation, upstream: m.upstream, server: m.url, failures: m.failures, forMs: m.forMs, reason: m.reason }
        if (m.ejected) this.#log.warn(fields, 'server ejected by a worker after consecutive failures (passive detection)')
        else this.#log.info(fields, 'ejected server back in rotation')
      }
    })
  }

  /** The serving generation's health checks, if any upstream has them. */
  get health (): ActiveHealth | undefined { return this.#health.get(this.supervisor.generation) }
  /** The config file as last loaded (what the admin API may change). */
  get fileConfig (): Config { return this.#file }
  get membership (): MembershipStore { return this.#store }
  /** The shared state the primary uses now (Redis when configured, else the embedded store). */
  get state (): SharedState { return this.#state }

  /** Where a served server comes from and whether it is drained. */
  member (upstream: string, url: string): { origin: string, draining: boolean } {
    return { origin: this.#served.origin[upstream]?.[url] ?? 'config', draining: this.#served.draining[upstream]?.has(url) === true }
  }

  /**
   * Purges cached responses cluster-wide (the shared level, and every worker's memory through pub/sub). `complete`
   * is false when shared state failed on the way: some entries or some workers' copies may remain.
   */
  async purgeCache (selector: PurgeSelector): Promise<{ purged: number, complete: boolean }> {
    this.#cache ??= createCacheStore({
      state: this.#state,
      keys: createKeys(this.#file.state?.prefix ?? 'swy'),
      memoryBytes: 0,
      now: Date.now,
      log: this.#log.child({ concept: 'cache' })
    })
    const faults = this.#cache.stats().faults
    const n = await this.#cache.purge(selector)
    this.metrics.inc('purges', [])
    const complete = this.#cache.stats().faults === faults
    if (complete) this.#log.info({ selector, purged: n }, 'cache purged')
    else this.#log.warn({ selector, purged: n }, 'cache purge incomplete: shared state unavailable')
    return { purged: n, complete }
  }

  /** Connects shared state, reads membership (a fault only warns), and starts generation 1. */
  async start (): Promise<void> {
    await this.#useState(this.#file)
    await this.#subscribe()
    try {
      this.#snapshot = await this.#store.read(...this.#names(this.#file))
    } catch (err) {
      this.#log.warn({ reason: (err as Error).message }, 'membership: shared state unavailable at start; serving the config file\'s servers')
    }
    const applied = overlay(this.#file, this.#snapshot)
    this.#served = applied
    this.#draining.set(1, applied.draining)
    this.supervisor.setInitial(applied.config)
    this.#startHealth(applied.config, 1, undefined)
    this.#poll = setInterval(() => {
      if (this.#unsubscribe === undefined) void this.#subscribe()
      void this.refresh('membership poll')
    }, Object.values(this.#file.upstreams).some((u) => u.discover !== undefined) ? POLL_DISCOVERY_MS : POLL_MEMBERS_MS)
    await this.supervisor.start()
  }

  /** Re-reads the config file and swaps in a new generation; an invalid file changes nothing. */
  async reload (why: string): Promise<ReloadOutcome> {
    return await this.#serial(async () => {
      if (this.#stopping) return { ok: false, status: 503, error: 'SWY_RELOAD_FAILED', message: 'the proxy is stopping' }
      let next: Config
      try {
        next = this.#o.reread()
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err
        this.#log.error({ why, problems: err.problems }, 'reload refused: invalid configuration; the running config keeps serving')
        this.metrics.inc('reloads', ['failed'])
        return { ok: false, status: 422, error: 'SWY_CONFIG_INVALID', message: err.message, problems: err.problems }
      }
      // Valid, but not as a reload here: refused up front with its key path rather than failing to bind.
      const moves = engineMoves(this.#file.listen, next.listen)
      if (moves.length > 0) {
        const err = new ConfigError(moves)
        this.#log.error({ why, problems: moves }, 'reload refused: a port cannot change engines by a reload on this Node; the running config keeps serving')
        this.metrics.inc('reloads', ['failed'])
        return { ok: false, status: 422, error: 'SWY_CONFIG_INVALID', message: err.message, problems: moves }
      }
      const stateChanged = JSON.stringify(next.state) !== JSON.stringify(this.#file.state)
      const outcome = await this.#swap(overlay(next, this.#snapshot), why)
      this.metrics.inc('reloads', [outcome.ok ? 'ok' : 'failed'])
      if (outcome.ok) {
        this.#file = next
        if (stateChanged) {
          const old = this.#state
          void this.#cache?.close()
          this.#cache = undefined
          await this.#useState(next)
          if (old !== this.#o.embedded) void old.close()
          await this.#subscribe()
        }
      }
      return outcome
    })
  }

  /** Re-reads membership; a change of servers starts a new generation, a change of draining only updates health. */
  async refresh (why: string): Promise<void> {
    await this.#serial(async () => {
      if (this.#stopping) return
      try {
        this.#snapshot = await this.#store.read(...this.#names(this.#file))
      } catch (err) {
        if (Date.now() - this.#lastWarn > WARN_EVERY_MS) {
          this.#lastWarn = Date.now()
          this.#log.warn({ reason: (err as Error).message }, 'membership: shared state unavailable; keeping the servers as they are')
        }
        return
      }
      const next = overlay(this.#file, this.#snapshot)
      if (!sameServers(next.config, this.supervisor.config)) {
        await this.#swap(next, why)
        return
      }
      const generation = this.supervisor.generation
      const before = this.#draining.get(generation) ?? {}
      if (Object.keys(next.draining).some((u) => !sameSet(before[u], next.draining[u]))) {
        this.#draining.set(generation, next.draining)
        this.#served = next
        for (const m of this.#healthMessages(generation)) this.supervisor.broadcast(m, generation)
        this.#log.info({ why, draining: Object.fromEntries(Object.entries(next.draining).map(([u, s]) => [u, [...s]])) }, 'membership: draining servers changed')
      }
    })
  }

  /** Stops checks and polling, drains every worker. */
  async stop (): Promise<void> {
    this.#stopping = true
    clearInterval(this.#poll)
    clearTimeout(this.#pending)
    for (const g of [...this.#health.keys()]) this.#forget(g)
    await Promise.all([this.supervisor.stop(this.supervisor.config.shutdown.drain_timeout), this.#unsubscribe?.().catch(() => {}), this.#cache?.close()])
  }

  /** For a failed start: stops timers and checks without touching workers. */
  abort (): void {
    this.#stopping = true
    clearInterval(this.#poll)
    for (const g of [...this.#health.keys()]) this.#forget(g)
  }

  async #useState (c: Config): Promise<void> {
    const target = redisTargetOf(c.state)
    this.#state = target === undefined
      ? this.#o.embedded
      : await createRedisState({ ...target, prefix: c.state?.prefix ?? 'swy', timeoutMs: c.state?.timeout ?? 250, log: this.#log })
    this.#store = createMembershipStore({ state: this.#state, keys: createKeys(c.state?.prefix ?? 'swy'), now: Date.now })
  }

  async #subscribe (): Promise<void> {
    await this.#unsubscribe?.().catch(() => {})
    this.#unsubscribe = await this.#store.subscribe(() => {
      this.#pending ??= setTimeout(() => { this.#pending = undefined; void this.refresh('membership announcement') }, DEBOUNCE_MS)
    }).catch((err: unknown) => {
      this.#log.warn({ reason: (err as Error).message }, 'membership: cannot subscribe to announcements yet; polling meanwhile')
      return undefined
    })
  }

  #names (c: Config): [string[], string[]] {
    return [Object.keys(c.upstreams), [...new Set(Object.values(c.upstreams).flatMap((u) => u.discover === undefined ? [] : [u.discover]))]]
  }

  async #serial<T> (fn: () => Promise<T>): Promise<T> {
    const p = this.#queue.then(fn, fn)
    this.#queue = p.catch(() => {})
    return await p
  }

  /** Starts a new generation on `applied` (the file plus membership); the old one drains. */
  async #swap (applied: Overlaid, why: string): Promise<ReloadOutcome> {
    const started = Date.now()
    const generation = this.#nextGeneration++
    const current = this.supervisor.generation
    try {
      const held = new Set(this.supervisor.config.listen.map((l) => `${l.host}:${l.port}`))
      await probeListen(applied.config.listen.filter((l) => !held.has(`${l.host}:${l.port}`)))
      this.#draining.set(generation, applied.draining)
      this.#startHealth(applied.config, generation, this.#health.get(current))
      this.#log.info({ why, generation, workers: workerCount(applied.config.workers) }, 'reload: starting a new generation')
      await this.supervisor.reload(applied.config, generation)
    } catch (err) {
      this.#forget(generation)
      const message = (err as Error).message
      this.#log.error({ why, generation, reason: message }, 'reload failed; the running generation keeps serving')
      return { ok: false, status: 500, error: 'SWY_RELOAD_FAILED', message }
    }
    this.#forget(current)
    this.#served = applied
    const ms = Date.now() - started
    this.#log.info({ event: 'reloaded', why, generation, ms }, `reloaded: generation ${generation} serves; generation ${current} drains`)
    return { ok: true, status: 200, generation, workers: workerCount(applied.config.workers), ms }
  }

  #startHealth (c: Config, generation: number, previous: ActiveHealth | undefined): void {
    if (!Object.values(c.upstreams).some((u) => u.health !== undefined)) return
    const before = previous?.status()
    this.#health.set(generation, createActiveHealth({
      upstreams: c.upstreams,
      log: this.#log.child({ concept: 'health' }),
      onChange: (upstream, healthy) => {
        const v = this.#vector(generation, upstream, healthy)
        if (v !== undefined) this.supervisor.broadcast({ type: 'health', upstream, healthy: v }, generation)
      },
      // A server keeps its state across a reload, so a known-bad server does not get traffic again meanwhile.
      initial: (upstream, url) => before?.[upstream]?.find((s) => s.url === url)?.healthy
    }))
  }

  #forget (generation: number): void {
    void this.#health.get(generation)?.close()
    this.#health.delete(generation)
    this.#draining.delete(generation)
  }

  /** What workers of `generation` use for `upstream`: active checks (fail-open applied) and not drained. */
  #vector (generation: number, upstream: string, checked: readonly boolean[] | undefined): boolean[] | undefined {
    const drained = this.#draining.get(generation)?.[upstream]
    if (checked === undefined && (drained === undefined || drained.size === 0)) return undefined
    const servers = this.supervisor.configOf(generation)?.upstreams[upstream]?.servers ?? []
    return servers.map((s, i) => (checked?.[i] ?? true) && drained?.has(s.url) !== true)
  }

  #healthMessages (generation: number): ToWorker[] {
    const c = this.supervisor.configOf(generation)
    if (c === undefined) return []
    const checked = new Map((this.#health.get(generation)?.snapshot() ?? []).map((h) => [h.upstream, h.healthy]))
    const out: ToWorker[] = []
    for (const name of Object.keys(c.upstreams)) {
      const v = this.#vector(generation, name, checked.get(name))
      if (v !== undefined) out.push({ type: 'health', upstream: name, healthy: v })
    }
    return out
  }
}

function sameSet (a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): boolean {
  const x = a ?? new Set<string>()
  const y = b ?? new Set<string>()
  return x.size === y.size && [...x].every((v) => y.has(v))
}
