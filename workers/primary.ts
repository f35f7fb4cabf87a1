// Primary process: validates config, forks and supervises workers, runs health checks, the admin API and runtime
// membership, reloads without downtime (SIGHUP, POST /api/reload, or a membership change), and stops the workers
// gracefully on SIGTERM/SIGINT. It never carries client traffic.
import { fileURLToPath } from 'node:url'
import cluster from 'node:cluster'
import { Supervisor, StartupError, workerCount, probeListen, EXIT, type ToWorker } from '../src/cluster/index.ts'
import { createLogger } from '../src/log/index.ts'
import { EmbeddedStore, serveEmbeddedState, createRedisState, createKeys, redisTargetOf, type SharedState } from '../src/state/index.ts'
import { createActiveHealth, type ActiveHealth } from '../src/health/index.ts'
import { startAdmin, createAdminRoutes, createMembershipRoutes, type AdminServer, type ReloadOutcome } from '../src/admin/index.ts'
import { createMembershipStore, overlay, sameServers, EMPTY_SNAPSHOT, type MembershipSnapshot, type MembershipStore, type Overlaid } from '../src/membership/index.ts'
import { ConfigError, type Config } from '../src/config/index.ts'

export interface PrimaryOptions {
  readonly config: Config
  readonly source: string
  /** Reads the config again for a reload (the same file and command-line overrides); throws ConfigError. */
  readonly reread: () => Config
  /** Run after the workers stopped, before exit (e.g. stopping demo backends). */
  readonly onStop?: () => void
}

/** How often membership is re-read without an announcement: discovery TTLs need the short one. */
const POLL_DISCOVERY_MS = 1000
const POLL_MEMBERS_MS = 5000
const WARN_EVERY_MS = 10_000

export async function runPrimary ({ config, source, reread, onStop }: PrimaryOptions): Promise<void> {
  const log = createLogger({ level: config.log.level, pretty: config.log.pretty, base: { role: 'primary' } })
  const embedded = new EmbeddedStore()
  // The primary's own view of shared state, for membership: the embedded store, or its own Redis client.
  let state: SharedState = embedded
  let store!: MembershipStore
  const useState = async (c: Config): Promise<void> => {
    const target = redisTargetOf(c.state)
    state = target === undefined
      ? embedded
      : await createRedisState({ ...target, prefix: c.state?.prefix ?? 'swy', timeoutMs: c.state?.timeout ?? 250, log })
    store = createMembershipStore({ state, keys: createKeys(c.state?.prefix ?? 'swy'), now: Date.now })
  }
  await useState(config)

  let fileConfig = config
  let snapshot: MembershipSnapshot = EMPTY_SNAPSHOT
  /** The membership the serving generation runs (origins and draining), for status. */
  let served: Overlaid = overlay(config, snapshot)
  // Per generation: its health checks and its drained servers. A reload's new workers get the new ones.
  const health = new Map<number, ActiveHealth>()
  const draining = new Map<number, Overlaid['draining']>()

  /** What workers of `generation` should use for `upstream`: active checks (fail-open applied) and not drained. */
  const vector = (generation: number, upstream: string, checked: readonly boolean[] | undefined): boolean[] | undefined => {
    const drained = draining.get(generation)?.[upstream]
    if (checked === undefined && (drained === undefined || drained.size === 0)) return undefined
    const servers = supervisor.configOf(generation)?.upstreams[upstream]?.servers ?? []
    return servers.map((s, i) => (checked?.[i] ?? true) && drained?.has(s.url) !== true)
  }
  const healthMessages = (generation: number): ToWorker[] => {
    const c = supervisor.configOf(generation)
    if (c === undefined) return []
    const checked = new Map((health.get(generation)?.snapshot() ?? []).map((h) => [h.upstream, h.healthy]))
    const out: ToWorker[] = []
    for (const name of Object.keys(c.upstreams)) {
      const v = vector(generation, name, checked.get(name))
      if (v !== undefined) out.push({ type: 'health', upstream: name, healthy: v })
    }
    return out
  }

  const supervisor = new Supervisor({
    config,
    log,
    exec: fileURLToPath(new URL('./proxy.js', import.meta.url)),
    snapshot: healthMessages,
    onMessage: (w, m) => {
      if (m.type !== 'ejection') return
      const fields = { worker: w.id, generation: w.generation, upstream: m.upstream, server: m.url, failures: m.failures, forMs: m.forMs, reason: m.reason }
      if (m.ejected) log.warn(fields, 'server ejected by a worker after consecutive failures (passive detection)')
      else log.info(fields, 'ejected server back in rotation')
    }
  })
  const startHealth = (c: Config, generation: number, previous: ActiveHealth | undefined): void => {
    if (!Object.values(c.upstreams).some((u) => u.health !== undefined)) return
    const before = previous?.status()
    health.set(generation, createActiveHealth({
      upstreams: c.upstreams,
      log: log.child({ concept: 'health' }),
      onChange: (upstream, healthy) => {
        const v = vector(generation, upstream, healthy)
        if (v !== undefined) supervisor.broadcast({ type: 'health', upstream, healthy: v }, generation)
      },
      // A server keeps its state across a reload, so a known-bad server does not get traffic again meanwhile.
      initial: (upstream, url) => before?.[upstream]?.find((s) => s.url === url)?.healthy
    }))
  }
  const forget = (generation: number): void => {
    void health.get(generation)?.close()
    health.delete(generation)
    draining.delete(generation)
  }
  let admin: AdminServer | undefined
  let stopping = false
  let nextGeneration = 2

  /** Starts a new generation on `applied` (the file plus membership); the old one drains. */
  const swap = async (applied: Overlaid, why: string): Promise<ReloadOutcome> => {
    const started = Date.now()
    const generation = nextGeneration++
    const current = supervisor.generation
    try {
      const held = new Set(supervisor.config.listen.map((l) => `${l.host}:${l.port}`))
      await probeListen(applied.config.listen.filter((l) => !held.has(`${l.host}:${l.port}`)))
      draining.set(generation, applied.draining)
      startHealth(applied.config, generation, health.get(current))
      log.info({ why, generation, workers: workerCount(applied.config.workers) }, 'reload: starting a new generation')
      await supervisor.reload(applied.config, generation)
    } catch (err) {
      forget(generation)
      const message = (err as Error).message
      log.error({ why, generation, reason: message }, 'reload failed; the running generation keeps serving')
      return { ok: false, status: 500, error: 'SWY_RELOAD_FAILED', message }
    }
    forget(current)
    served = applied
    const ms = Date.now() - started
    log.info({ event: 'reloaded', why, generation, ms }, `reloaded: generation ${generation} serves; generation ${current} drains`)
    return { ok: true, status: 200, generation, workers: workerCount(applied.config.workers), ms }
  }

  // Reloads and membership changes run one at a time, in order.
  let queue: Promise<unknown> = Promise.resolve()
  const serial = async <T>(fn: () => Promise<T>): Promise<T> => {
    const p = queue.then(fn, fn)
    queue = p.catch(() => {})
    return await p
  }

  const reload = async (why: string): Promise<ReloadOutcome> => await serial(async () => {
    if (stopping) return { ok: false, status: 503, error: 'SWY_RELOAD_FAILED', message: 'the proxy is stopping' }
    let next: Config
    try {
      next = reread()
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      log.error({ why, problems: err.problems }, 'reload refused: invalid configuration; the running config keeps serving')
      return { ok: false, status: 422, error: 'SWY_CONFIG_INVALID', message: err.message, problems: err.problems }
    }
    const stateChanged = JSON.stringify(next.state) !== JSON.stringify(fileConfig.state)
    const outcome = await swap(overlay(next, snapshot), why)
    if (outcome.ok) {
      fileConfig = next
      if (stateChanged) {
        const old = state
        await useState(next)
        if (old !== embedded) void old.close()
        await subscribe()
      }
    }
    return outcome
  })

  let lastWarn = 0
  /** Re-reads membership; a change of servers starts a new generation, a change of draining only updates health. */
  const refresh = async (why: string): Promise<void> => await serial(async () => {
    if (stopping) return
    const upstreams = Object.keys(fileConfig.upstreams)
    const services = [...new Set(Object.values(fileConfig.upstreams).flatMap((u) => u.discover === undefined ? [] : [u.discover]))]
    try {
      snapshot = await store.read(upstreams, services)
    } catch (err) {
      if (Date.now() - lastWarn > WARN_EVERY_MS) {
        lastWarn = Date.now()
        log.warn({ reason: (err as Error).message }, 'membership: shared state unavailable; keeping the servers as they are')
      }
      return
    }
    const next = overlay(fileConfig, snapshot)
    if (!sameServers(next.config, supervisor.config)) {
      await swap(next, why)
      return
    }
    const generation = supervisor.generation
    const before = draining.get(generation) ?? {}
    if (Object.keys(next.draining).some((u) => !sameSet(before[u], next.draining[u]))) {
      draining.set(generation, next.draining)
      served = next
      for (const m of healthMessages(generation)) supervisor.broadcast(m, generation)
      log.info({ why, draining: Object.fromEntries(Object.entries(next.draining).map(([u, s]) => [u, [...s]])) }, 'membership: draining servers changed')
    }
  })

  let unsubscribe: (() => Promise<void>) | undefined
  let pending: NodeJS.Timeout | undefined
  const announced = (): void => {
    // Announcements come in bursts (a heartbeat storm, several admin calls): one refresh per 100 ms is enough.
    pending ??= setTimeout(() => { pending = undefined; void refresh('membership announcement') }, 100)
  }
  const subscribe = async (): Promise<void> => {
    await unsubscribe?.().catch(() => {})
    unsubscribe = await store.subscribe(announced).catch((err: unknown) => {
      log.warn({ reason: (err as Error).message }, 'membership: cannot subscribe to announcements yet; polling meanwhile')
      return undefined
    })
  }
  const poll = setInterval(() => {
    if (unsubscribe === undefined) void subscribe()
    void refresh('membership poll')
  }, Object.values(config.upstreams).some((u) => u.discover !== undefined) ? POLL_DISCOVERY_MS : POLL_MEMBERS_MS)

  const stop = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    stopping = true
    clearInterval(poll)
    log.info({ signal, drainMs: supervisor.config.shutdown.drain_timeout }, 'stopping: draining workers')
    for (const g of [...health.keys()]) forget(g)
    Promise.all([supervisor.stop(supervisor.config.shutdown.drain_timeout), admin?.close(), unsubscribe?.()]).then(() => {
      log.info('stopped')
      onStop?.()
      process.exit(EXIT.OK)
    }, (err: unknown) => {
      log.error({ err }, 'stop failed')
      process.exit(1)
    })
  }
  // Trapped before the first fork: a primary that dies takes every worker with it (uws-notes.md §1).
  process.on('SIGTERM', () => { stop('SIGTERM') })
  process.on('SIGINT', () => { stop('SIGINT') })
  process.on('SIGHUP', () => {
    reload('SIGHUP').catch((err: unknown) => { log.error({ err }, 'reload failed') })
  })

  // The embedded store is served whether or not this config uses it: a reload may switch from Redis to it.
  serveEmbeddedState(embedded, cluster, log)

  try {
    await probeListen(config.listen)
    if (config.admin.enabled) {
      admin = await startAdmin({
        host: config.admin.host,
        port: config.admin.port,
        token: config.admin.token,
        log: log.child({ concept: 'admin' }),
        routes: [
          ...createAdminRoutes({
            supervisor,
            health: () => health.get(supervisor.generation),
            reload,
            source,
            member: (upstream, url) => ({ origin: served.origin[upstream]?.[url] ?? 'config', draining: served.draining[upstream]?.has(url) === true })
          }),
          ...createMembershipRoutes({ store: () => store, fileConfig: () => fileConfig, refresh, served: () => supervisor.config })
        ]
      }).catch((err: NodeJS.ErrnoException) => {
        throw new StartupError(`cannot start the admin API on ${config.admin.host}:${config.admin.port}: ${err.code ?? err.message}`, EXIT.STARTUP)
      })
    }
    // Membership known before the first fork, so a host that starts late serves the same servers as the others.
    await subscribe()
    try {
      snapshot = await store.read(Object.keys(config.upstreams), [...new Set(Object.values(config.upstreams).flatMap((u) => u.discover === undefined ? [] : [u.discover]))])
    } catch (err) {
      log.warn({ reason: (err as Error).message }, 'membership: shared state unavailable at start; serving the config file\'s servers')
    }
    const applied = overlay(config, snapshot)
    served = applied
    draining.set(1, applied.draining)
    supervisor.setInitial(applied.config)
    startHealth(applied.config, 1, undefined)
    await supervisor.start()
  } catch (err) {
    const code = err instanceof StartupError ? err.exitCode : EXIT.STARTUP
    log.fatal({ reason: (err as Error).message }, 'startup failed')
    // The reason also goes to stderr, where a CLI user looks first when the exit code is not 0.
    process.stderr.write(`switchyard: ${(err as Error).message}\n`)
    clearInterval(poll)
    for (const g of [...health.keys()]) forget(g)
    await admin?.close()
    onStop?.()
    // Let pino flush before exiting.
    setTimeout(() => process.exit(code), 50)
    return
  }
  log.info({
    event: 'ready',
    config: source,
    workers: workerCount(config.workers),
    listen: config.listen.map((l) => `${l.host}:${l.port}`),
    admin: admin === undefined ? null : `${config.admin.host}:${admin.port}`
  }, `switchyard ready on ${config.listen.map((l) => `${l.host}:${l.port}`).join(', ')}`)
}

function sameSet (a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): boolean {
  const x = a ?? new Set<string>()
  const y = b ?? new Set<string>()
  return x.size === y.size && [...x].every((v) => y.has(v))
}
