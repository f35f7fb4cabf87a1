// Worker process: one uWS app, one undici pool per backend server, one logger. Wiring only.
import cluster from 'node:cluster'
import { performance } from 'node:perf_hooks'
import { loadNativeUws, createListener, type UWS } from '../src/listener/index.ts'
import { buildRuntime, createRequestIds, type Exchange } from '../src/pipeline/index.ts'
import { createLocalReplies } from '../src/response/local-reply.ts'
import { createLogger, createAccessLog } from '../src/log/index.ts'
import { EXIT, isToWorker, workerCount, type FromWorker } from '../src/cluster/index.ts'
import { createIpcState, createRedisState, redisTargetOf, createKeys } from '../src/state/index.ts'
import { createCacheStore, type CacheStoreHandle } from '../src/cache/index.ts'
import type { Config } from '../src/config/index.ts'
import { createCidrSet } from '../src/net/cidr.ts'

const send = (m: FromWorker): void => { if (process.connected) process.send?.(m) }

let uws: UWS
try {
  uws = loadNativeUws()
} catch (err) {
  send({ type: 'fatal', message: (err as Error).message, exitCode: EXIT.STARTUP })
  process.exit(EXIT.STARTUP)
}

// Health arrives right after the config, before the runtime exists: keep the latest per upstream until then.
const pendingHealth = new Map<string, readonly boolean[]>()
const onEarlyHealth = (m: unknown): void => { if (isToWorker(m) && m.type === 'health') pendingHealth.set(m.upstream, m.healthy) }
process.on('message', onEarlyHealth)

process.once('message', (m: unknown) => {
  if (isToWorker(m) && m.type === 'config') {
    start(m.config, m.generation).catch((err: unknown) => {
      send({ type: 'fatal', message: (err as Error).message, exitCode: EXIT.STARTUP })
      process.exit(EXIT.STARTUP)
    })
  }
})
// The primary coordinates shutdown: a terminal's Ctrl-C (SIGINT to the whole group) must not cut requests here.
process.on('SIGINT', () => {})
process.on('SIGTERM', () => {})
send({ type: 'hello' })
// A primary that dies takes its workers with it: nobody would restart or drain them.
process.once('disconnect', () => { process.exit(0) })

async function start (config: Config, generation: number): Promise<void> {
  const id = cluster.worker?.id ?? 0
  const log = createLogger({ level: config.log.level, pretty: config.log.pretty, base: { role: 'worker', worker: id, generation } })
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception; exiting so the primary replaces this worker')
    process.exit(70)
  })
  process.on('unhandledRejection', (err) => { log.error({ err }, 'unhandled rejection') })

  const clock = (): number => performance.now()
  // Shared state: Redis when configured (degraded, not failed, while it is down), else the primary's embedded store.
  const target = redisTargetOf(config.state)
  const state = target === undefined
    ? createIpcState({ channel: process, timeoutMs: 250, log })
    : await createRedisState({ ...target, prefix: config.state?.prefix ?? 'swy', timeoutMs: config.state?.timeout ?? 250, log })
  // The HTTP cache: this worker's memory level in front of the shared state; only when some route caches.
  let cache: CacheStoreHandle | undefined
  if (config.routes.some((r) => r.cache !== undefined)) {
    cache = createCacheStore({
      state,
      keys: createKeys(config.state?.prefix ?? 'swy'),
      memoryBytes: config.cache.memory,
      now: Date.now,
      log: log.child({ concept: 'cache' })
    })
    // Subscribed to fills and purges before serving, but never held up by a state outage: waiters poll meanwhile.
    await Promise.race([cache.ready(), new Promise((resolve) => setTimeout(resolve, 1000).unref())])
  }
  const nextId = createRequestIds()
  const runtime = buildRuntime(config, {
    log,
    random: Math.random,
    nextId,
    state,
    workers: workerCount(config.workers),
    ...(cache === undefined ? {} : { cache }),
    onEjection: (upstream, e) => { send({ type: 'ejection', upstream, ...e }) }
  })
  // Active bans are read before serving (bounded: a state fault resolves it, and the bans follow on a later tick).
  await runtime.ready
  for (const [name, healthy] of pendingHealth) runtime.setHealth(name, healthy)
  process.off('message', onEarlyHealth)
  pendingHealth.clear()
  process.on('message', (m: unknown) => {
    if (!isToWorker(m)) return
    if (m.type === 'health') runtime.setHealth(m.upstream, m.healthy)
    else if (m.type === 'stats?') send({ type: 'stats', id: m.id, upstreams: runtime.counters(), ...(cache === undefined ? {} : { cache: cache.stats() }) })
  })
  const logAccess = config.log.access ? createAccessLog(log, clock) : undefined
  // What a finished request leaves behind: its access line, and its X-Cache in the cache's counters.
  const c = cache
  const access = c === undefined
    ? logAccess ?? (() => {})
    : logAccess === undefined ? (ex: Exchange) => { c.answered(ex.cacheStatus) } : (ex: Exchange) => { c.answered(ex.cacheStatus); logAccess(ex) }
  const listener = createListener({
    uws,
    stages: () => runtime.stages,
    replies: createLocalReplies(log),
    onComplete: access,
    bodyHighWater: config.body_highwater,
    clock,
    eagerPeer: config.log.access,
    trusted: createCidrSet(config.trusted_proxies),
    nextId,
    routeHosts: config.routes.flatMap((r) => r.match.host === undefined ? [] : [r.match.host])
  })
  let ports: number[]
  try {
    ports = listener.listen(config.listen)
  } catch (err) {
    log.fatal({ err }, 'cannot listen')
    send({ type: 'fatal', message: (err as Error).message, exitCode: EXIT.STARTUP })
    process.exit(EXIT.STARTUP)
  }
  send({ type: 'listening', ports })

  process.on('message', (m: unknown) => {
    if (!isToWorker(m) || m.type !== 'drain') return
    // Stop accepting, answer what is left with Connection: close, exit once idle (uws-notes.md §1).
    listener.state.draining = true
    listener.stopAccepting()
    const deadline = Date.now() + m.timeoutMs
    let idleSince = Date.now()
    const iv = setInterval(() => {
      if (listener.inflight > 0) idleSince = Date.now()
      if (Date.now() - idleSince >= 300 || Date.now() > deadline) {
        clearInterval(iv)
        if (listener.inflight > 0) log.warn({ inflight: listener.inflight }, 'drain deadline reached; cutting in-flight requests')
        Promise.allSettled([runtime.close(200), cache?.close(), state.close()]).finally(() => { process.exit(0) })
      }
    }, 25)
  })
}
