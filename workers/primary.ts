// Primary process: wiring only. The controller (src/cluster/controller.ts) owns generations, health checks,
// reloads and membership; this file adds the logger, signals, the admin API and startup failure handling.
// The primary never carries client traffic.
import { fileURLToPath } from 'node:url'
import cluster from 'node:cluster'
import { Controller, StartupError, workerCount, probeListen, EXIT } from '../src/cluster/index.ts'
import { createLogger } from '../src/log/index.ts'
import { EmbeddedStore, serveEmbeddedState } from '../src/state/index.ts'
import { startAdmin, createAdminRoutes, createMembershipRoutes, createCacheRoutes, type AdminServer } from '../src/admin/index.ts'
import type { Config, ConfigProblem } from '../src/config/index.ts'

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

  const stop = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    stopping = true
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
  // Trapped before the first fork: a primary that dies takes every worker with it (uws-notes.md §1).
  process.on('SIGTERM', () => { stop('SIGTERM') })
  process.on('SIGINT', () => { stop('SIGINT') })
  process.on('SIGHUP', () => {
    controller.reload('SIGHUP').catch((err: unknown) => { log.error({ err }, 'reload failed') })
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
          ...createCacheRoutes({ purge: async (selector) => await controller.purgeCache(selector) })
        ]
      }).catch((err: NodeJS.ErrnoException) => {
        throw new StartupError(`cannot start the admin API on ${config.admin.host}:${config.admin.port}: ${err.code ?? err.message}`, EXIT.STARTUP)
      })
    }
    await controller.start()
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
    admin: admin === undefined ? null : `${config.admin.host}:${admin.port}`
  }, `switchyard ready on ${config.listen.map((l) => `${l.host}:${l.port}`).join(', ')}`)
}
