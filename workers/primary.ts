// Primary process: wiring only. The controller (src/cluster/controller.ts) owns generations, health checks,
// reloads and membership; this file adds the logger, signals, the admin API and startup failure handling.
// The primary never carries client traffic.
import { fileURLToPath } from 'node:url'
import cluster from 'node:cluster'
import { Controller, StartupError, workerCount, probeListen, EXIT } from '../src/cluster/index.ts'
import { createLogger } from '../src/log/index.ts'
import { EmbeddedStore, serveEmbeddedState } from '../src/state/index.ts'
import { hostname } from 'node:os'
import { startAdmin, createAdminRoutes, createMembershipRoutes, createCacheRoutes, createMetricsRoutes, createDashboardRoutes, type AdminServer, type AdminRoute } from '../src/admin/index.ts'
import { createExposition, establishedByPort, certExpiries, createFleet, DashboardFeed, type CertExpiry, type PrimaryLevels, type ServerHealthView } from '../src/metrics/index.ts'
import { createKeys } from '../src/state/index.ts'
import type { Config, ConfigProblem } from '../src/config/index.ts'
import { loadEngine, engineWarnings, type Engine } from '../src/engine/index.ts'

export interface PrimaryOptions {
  readonly config: Config
  readonly source: string
  /** Reads the config again for a reload (the same file and command-line overrides); throws ConfigError. */
  readonly reread: (onWarning?: (w: ConfigProblem) => void) => Config
  /** What loading `config` warned about (expired certificates, `verify: false`): logged at start. */
  readonly warnings?: readonly ConfigProblem[]
  /** Run after the workers stopped, before exit (e.g. stopping demo backends). */
  readonly onStop?: () => void
}

export async function runPrimary ({ config, source, reread, warnings = [], onStop }: PrimaryOptions): Promise<void> {
  const log = createLogger({ level: config.log.level, pretty: config.log.pretty, base: { role: 'primary' } })
  const warn = (w: ConfigProblem): void => { log.warn({ path: w.path, reason: w.reason }, `config warning: ${w.path}: ${w.reason}`) }
  for (const w of warnings) warn(w)
  const embedded = new EmbeddedStore()
  const controller = new Controller({ config, reread: () => reread(warn), exec: fileURLToPath(new URL('./proxy.js', import.meta.url)), log, embedded })
  const { supervisor } = controller
  let admin: AdminServer | undefined
  let stopping = false
  // The dashboard's feed: this host's one-second summary, shared with the fleet through shared state.
  const feed = new DashboardFeed({
    totals: controller.metrics,
    host: config.admin.enabled ? `${hostname()}:${config.admin.port}` : `${hostname()}/${process.pid}`,
    info: () => ({ generation: supervisor.generation, workers: supervisor.status().filter((w) => w.state === 'serving').length }),
    health: () => serverHealth(controller),
    fleet: createFleet({ state: () => controller.state, keys: () => createKeys(supervisor.config.state?.prefix ?? 'swy') }),
    log: log.child({ concept: 'dashboard' })
  })

  const stop = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    stopping = true
    feed.stop()
    log.info({ signal, drainMs: supervisor.config.shutdown.drain_timeout }, 'stopping: draining workers')
    Promise.all([controller.stop(), admin?.close()]).then(() => {
      log.info('stopped')
      onStop?.()
      process.exit(EXIT.OK)
    }, (err: unknown) => {
      log.error({ err }, 'stop failed')
      process.exit(1)
    })
  }
  // Trapped before the first fork: a primary that dies takes every worker with it (docs/uws.md §1).
  process.on('SIGTERM', () => { stop('SIGTERM') })
  process.on('SIGINT', () => { stop('SIGINT') })
  // logrotate's signal: each worker reopens its access-log file. (Trapped in any case: Node would start its inspector.)
  process.on('SIGUSR1', () => {
    for (const w of supervisor.status()) if (w.pid !== undefined) try { process.kill(w.pid, 'SIGUSR1') } catch {}
    log.info({ workers: supervisor.status().length }, 'SIGUSR1: workers reopen their access-log file')
  })
  process.on('SIGHUP', () => {
    controller.reload('SIGHUP').catch((err: unknown) => { log.error({ err }, 'reload failed') })
  })

  // The embedded store is served whether or not this config uses it: a reload may switch from Redis to it.
  serveEmbeddedState(embedded, cluster, log)

  let engine: Engine
  try {
    // The workers load the same build; finding out here gives one clear exit-3 message instead of N crashing workers.
    try {
      engine = loadEngine(process.env)
    } catch (err) {
      throw new StartupError((err as Error).message, EXIT.STARTUP)
    }
    for (const w of engineWarnings(config, engine)) warn(w)
    await probeListen(config.listen)
    if (config.admin.enabled) {
      admin = await startAdmin({
        host: config.admin.host,
        port: config.admin.port,
        token: config.admin.token,
        log: log.child({ concept: 'admin' }),
        routes: adminRoutes(controller, source, feed)
      }).catch((err: NodeJS.ErrnoException) => {
        throw new StartupError(`cannot start the admin API on ${config.admin.host}:${config.admin.port}: ${err.code ?? err.message}`, EXIT.STARTUP)
      })
    }
    await controller.start()
    if (config.metrics.enabled) feed.start()
  } catch (err) {
    const code = err instanceof StartupError ? err.exitCode : EXIT.STARTUP
    log.fatal({ reason: (err as Error).message }, 'startup failed')
    // The reason also goes to stderr, where a CLI user looks first when the exit code is not 0.
    process.stderr.write(`switchyard: ${(err as Error).message}\n`)
    controller.abort()
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
    admin: admin === undefined ? null : `${config.admin.host}:${admin.port}`,
    runtime: `node ${process.versions.node}`,
    engine: `uWebSockets.js ${engine.build.version}`
  }, `switchyard ready on ${config.listen.map((l) => `${l.host}:${l.port}`).join(', ')} (${engine.describe})`)
}

/** The admin API: status and reload, runtime membership, cache purge. */
function adminRoutes (controller: Controller, source: string, feed: DashboardFeed): AdminRoute[] {
  const { supervisor } = controller
  return [
    ...createAdminRoutes({
      supervisor,
      health: () => controller.health,
      reload: async (why) => await controller.reload(why),
      source,
      member: (upstream, url) => controller.member(upstream, url)
    }),
    ...createMembershipRoutes({
      store: () => controller.membership,
      fileConfig: () => controller.fileConfig,
      refresh: async (why) => { await controller.refresh(why) },
      served: () => supervisor.config
    }),
    ...createCacheRoutes({ purge: async (selector) => await controller.purgeCache(selector) }),
    ...createMetricsRoutes({ enabled: () => supervisor.config.metrics.enabled, ...createExposition(controller.metrics, () => primaryLevels(controller)) }),
    ...createDashboardRoutes({ view: () => feed.view, subscribe: (fn) => feed.subscribe(fn) })
  ]
}

/** Each server's health for the dashboard: active checks (with the last failure), passive ejections, in flight. */
function serverHealth (controller: Controller): ServerHealthView[] {
  const config = controller.supervisor.config
  const checked = controller.health?.status() ?? {}
  const gauge = (fam: 'serverInflight' | 'serverEjected'): Map<string, number> => new Map(controller.metrics.gauge(fam).map((s) => [s.labels.join(' '), s.value]))
  const inflight = gauge('serverInflight')
  const ejected = gauge('serverEjected')
  return Object.entries(config.upstreams).flatMap(([upstream, u]) => u.servers.map((s, i) => {
    const key = `${upstream} ${s.url}`
    const h = checked[upstream]?.[i]
    const last = controller.lastEjection.get(key)
    return {
      upstream,
      server: s.url,
      up: h?.healthy ?? true,
      ...(h?.reason === undefined ? {} : { reason: h.reason }),
      ejected: (ejected.get(key) ?? 0) > 0,
      ...(last === undefined ? {} : { ejectReason: last.reason }),
      inflight: inflight.get(key) ?? 0
    }
  }))
}

/** Certificate expiries of the serving config, read again only when the config changes. */
let certs: { config: Config, list: CertExpiry[] } | undefined

/** What /metrics shows beside the workers' totals: supervision, active health, sockets, certificates. */
function primaryLevels (controller: Controller): PrimaryLevels {
  const { supervisor } = controller
  const config = supervisor.config
  const workers = { starting: 0, serving: 0, draining: 0 }
  for (const w of supervisor.status()) workers[w.state]++
  const checked = controller.health?.status() ?? {}
  const servers = Object.entries(config.upstreams).flatMap(([upstream, u]) => u.servers.map((s, i) => ({ upstream, server: s.url, up: checked[upstream]?.[i]?.healthy ?? true })))
  const open = establishedByPort(config.listen.map((l) => l.port))
  if (certs?.config !== config) certs = { config, list: certExpiries(config) }
  return {
    generation: supervisor.generation,
    workers,
    restarts: supervisor.replaced,
    crashLooping: supervisor.restarts().recent >= 5,
    servers,
    connections: config.listen.map((l) => ({ listener: `${l.host}:${l.port}`, open: open.get(l.port) ?? 0 })),
    certs: certs.list
  }
}
