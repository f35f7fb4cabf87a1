// Primary process: validates config, forks and supervises workers, runs health checks and the admin API, reloads
// without downtime (SIGHUP or POST /api/reload), and stops the workers gracefully on SIGTERM/SIGINT.
// It never carries client traffic.
import { fileURLToPath } from 'node:url'
import cluster from 'node:cluster'
import { Supervisor, StartupError, workerCount, probeListen, EXIT } from '../src/cluster/index.ts'
import { createLogger } from '../src/log/index.ts'
import { EmbeddedStore, serveEmbeddedState } from '../src/state/index.ts'
import { createActiveHealth, type ActiveHealth } from '../src/health/index.ts'
import { startAdmin, createAdminRoutes, type AdminServer, type ReloadOutcome } from '../src/admin/index.ts'
import { ConfigError, type Config } from '../src/config/index.ts'


export interface PrimaryOptions {
  readonly config: Config
  readonly source: string
  /** Reads the config again for a reload (the same file and command-line overrides); throws ConfigError. */
  readonly reread: () => Config
  /** Run after the workers stopped, before exit (e.g. stopping demo backends). */
  readonly onStop?: () => void
}

export async function runPrimary ({ config, source, reread, onStop }: PrimaryOptions): Promise<void> {
  const log = createLogger({ level: config.log.level, pretty: config.log.pretty, base: { role: 'primary' } })
  // Health checkers per generation: a reload's new workers get the new upstreams' health, the old ones keep theirs.
  const health = new Map<number, ActiveHealth>()
  const supervisor = new Supervisor({
    config,
    log,
    exec: fileURLToPath(new URL('./proxy.js', import.meta.url)),
    snapshot: (g) => health.get(g)?.snapshot().map((h) => ({ type: 'health' as const, ...h })) ?? [],
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
      onChange: (upstream, healthy) => { supervisor.broadcast({ type: 'health', upstream, healthy }, generation) },
      // A server keeps its state across a reload, so a known-bad server does not get traffic again meanwhile.
      initial: (upstream, url) => before?.[upstream]?.find((s) => s.url === url)?.healthy
    }))
  }
  const stopHealth = (generation: number): void => {
    void health.get(generation)?.close()
    health.delete(generation)
  }
  let admin: AdminServer | undefined
  let stopping = false
  let nextGeneration = 2

  const reload = async (why: string): Promise<ReloadOutcome> => {
    if (stopping) return { ok: false, status: 503, error: 'SWY_RELOAD_FAILED', message: 'the proxy is stopping' }
    const started = Date.now()
    let next: Config
    try {
      next = reread()
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      log.error({ why, problems: err.problems }, 'reload refused: invalid configuration; the running config keeps serving')
      return { ok: false, status: 422, error: 'SWY_CONFIG_INVALID', message: err.message, problems: err.problems }
    }
    const generation = nextGeneration++
    const current = supervisor.generation
    try {
      const held = new Set(supervisor.config.listen.map((l) => `${l.host}:${l.port}`))
      await probeListen(next.listen.filter((l) => !held.has(`${l.host}:${l.port}`)))
      startHealth(next, generation, health.get(current))
      log.info({ why, generation, workers: workerCount(next.workers) }, 'reload: starting a new generation')
      await supervisor.reload(next, generation)
    } catch (err) {
      stopHealth(generation)
      const message = (err as Error).message
      log.error({ why, generation, reason: message }, 'reload failed; the running generation keeps serving')
      return { ok: false, status: 500, error: 'SWY_RELOAD_FAILED', message }
    }
    stopHealth(current)
    const ms = Date.now() - started
    log.info({ event: 'reloaded', why, generation, ms }, `reloaded: generation ${generation} serves; generation ${current} drains`)
    return { ok: true, status: 200, generation, workers: workerCount(next.workers), ms }
  }

  const stop = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    stopping = true
    log.info({ signal, drainMs: supervisor.config.shutdown.drain_timeout }, 'stopping: draining workers')
    for (const g of [...health.keys()]) stopHealth(g)
    Promise.all([supervisor.stop(supervisor.config.shutdown.drain_timeout), admin?.close()]).then(() => {
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
  serveEmbeddedState(new EmbeddedStore(), cluster, log)

  try {
    await probeListen(config.listen)
    if (config.admin.enabled) {
      admin = await startAdmin({
        host: config.admin.host,
        port: config.admin.port,
        token: config.admin.token,
        log: log.child({ concept: 'admin' }),
        routes: createAdminRoutes({ supervisor, health: () => health.get(supervisor.generation), reload, source })
      }).catch((err: NodeJS.ErrnoException) => {
        throw new StartupError(`cannot start the admin API on ${config.admin.host}:${config.admin.port}: ${err.code ?? err.message}`, EXIT.STARTUP)
      })
    }
    startHealth(config, 1, undefined)
    await supervisor.start()
  } catch (err) {
    const code = err instanceof StartupError ? err.exitCode : EXIT.STARTUP
    log.fatal({ reason: (err as Error).message }, 'startup failed')
    // The reason also goes to stderr, where a CLI user looks first when the exit code is not 0.
    process.stderr.write(`switchyard: ${(err as Error).message}\n`)
    for (const g of [...health.keys()]) stopHealth(g)
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
