// Primary process: validates config, forks and supervises workers, and stops them gracefully on SIGTERM/SIGINT.
// It never carries client traffic.
import { fileURLToPath } from 'node:url'
import { Supervisor, StartupError, workerCount, probeListen, EXIT } from '../src/cluster/index.ts'
import cluster from 'node:cluster'
import { createLogger } from '../src/log/index.ts'
import { EmbeddedStore, serveEmbeddedState } from '../src/state/index.ts'
import { createActiveHealth, type ActiveHealth } from '../src/health/index.ts'
import type { Config } from '../src/config/index.ts'

export interface PrimaryOptions {
  readonly config: Config
  readonly source: string
  /** Run after the workers stopped, before exit (e.g. stopping demo backends). */
  readonly onStop?: () => void
}

export async function runPrimary ({ config, source, onStop }: PrimaryOptions): Promise<void> {
  const log = createLogger({ level: config.log.level, pretty: config.log.pretty, base: { role: 'primary' } })
  let health: ActiveHealth | undefined
  const supervisor = new Supervisor({
    config,
    log,
    exec: fileURLToPath(new URL('./proxy.js', import.meta.url)),
    snapshot: () => health?.snapshot().map((h) => ({ type: 'health' as const, ...h })) ?? []
  })
  // Active health checks: once per host, here; every worker gets each change (and a new worker the current state).
  if (Object.values(config.upstreams).some((u) => u.health !== undefined)) {
    health = createActiveHealth({
      upstreams: config.upstreams,
      log: log.child({ concept: 'health' }),
      onChange: (upstream, healthy) => { supervisor.broadcast({ type: 'health', upstream, healthy }) }
    })
  }
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    stopping = true
    log.info({ signal, drainMs: config.shutdown.drain_timeout }, 'stopping: draining workers')
    void health?.close()
    supervisor.stop(config.shutdown.drain_timeout).then(() => {
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

  // No Redis configured: this primary holds the host's shared state, served to every worker over IPC.
  if (config.state === undefined) serveEmbeddedState(new EmbeddedStore(), cluster, log)

  try {
    await probeListen(config.listen)
    await supervisor.start()
  } catch (err) {
    const code = err instanceof StartupError ? err.exitCode : EXIT.STARTUP
    log.fatal({ reason: (err as Error).message }, 'startup failed')
    // The reason also goes to stderr, where a CLI user looks first when the exit code is not 0.
    process.stderr.write(`switchyard: ${(err as Error).message}\n`)
    void health?.close()
    onStop?.()
    // Let pino flush before exiting.
    setTimeout(() => process.exit(code), 50)
    return
  }
  log.info({
    event: 'ready',
    config: source,
    workers: workerCount(config.workers),
    listen: config.listen.map((l) => `${l.host}:${l.port}`)
  }, `switchyard ready on ${config.listen.map((l) => `${l.host}:${l.port}`).join(', ')}`)
}
