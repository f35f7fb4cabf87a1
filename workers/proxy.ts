// Worker process: one uWS app, one undici pool per backend server, one logger. Wiring only.
import cluster from 'node:cluster'
import { performance } from 'node:perf_hooks'
import { DRAIN_ACCEPTED_MS, createUwsListener, createNodeListener, joinListeners, tlsNamesByPort, type Listener, type ListenerOptions } from '../src/listener/index.ts'
import { loadEngine, type Engine } from '../src/engine/index.ts'
import { createRequestIds, type Exchange } from '../src/pipeline/index.ts'
import { buildRuntime } from '../src/assemble/index.ts'
import { createLocalReplies } from '../src/response/index.ts'
import { createLogger, createFileLogger, createAccessLog, type Logger } from '../src/log/index.ts'
import { EXIT, isToWorker, workerCount, type FromWorker } from '../src/cluster/index.ts'
import { createIpcState, createRedisState, redisTargetOf, createKeys, type SharedState } from '../src/state/index.ts'
import { createCacheStore, type CacheStoreHandle } from '../src/cache/index.ts'
import { listenerEngine, nodeHasReusePort, type Config } from '../src/config/index.ts'
import { createCidrSet } from '../src/net/index.ts'
import { WorkerMetrics, meterState } from '../src/metrics/index.ts'

const send = (m: FromWorker): void => { if (process.connected) process.send?.(m) }

let engine: Engine
try {
  engine = loadEngine(process.env)
} catch (err) {
  send({ type: 'fatal', message: (err as Error).message, exitCode: EXIT.STARTUP })
  process.exit(EXIT.STARTUP)
}

// Health arrives right after the config, before the runtime exists: keep the latest per upstream until then.
const pendingHealth = new Map<string, readonly boolean[]>()
const onEarlyHealth = (m: unknown): void => { if (isToWorker(m) && m.type === 'health') pendingHealth.set(m.upstream, m.healthy) }
process.on('message', onEarlyHealth)

// The first config starts the worker. Not `once`: a health verdict can arrive first (seen on Node 24, when a check
// failed before this worker said hello), and `once` would have swallowed it and waited for a config forever.
const onConfig = (m: unknown): void => {
  if (!isToWorker(m) || m.type !== 'config') return
  process.off('message', onConfig)
  start(m.config, m.generation).catch((err: unknown) => {
    send({ type: 'fatal', message: (err as Error).message, exitCode: EXIT.STARTUP })
    process.exit(EXIT.STARTUP)
  })
}
process.on('message', onConfig)
// The primary coordinates shutdown: a terminal's Ctrl-C (SIGINT to the whole group) must not cut requests here.
process.on('SIGINT', () => {})
process.on('SIGTERM', () => {})
// logrotate (through the primary): reopen the access-log file. Trapped from the start: Node would open its inspector.
let reopenAccess: (() => void) | undefined
process.on('SIGUSR1', () => { reopenAccess?.() })
send({ type: 'hello' })
// A primary that dies takes its workers with it: nobody would restart or drain them.
process.once('disconnect', () => { process.exit(0) })

/**
 * Shared state (Redis when configured, degraded rather than failed while it is down; else the primary's embedded
 * store) and the HTTP cache (this worker's memory level in front of it; only when some route caches).
 */
async function sharedServices (config: Config, log: Logger, metrics: WorkerMetrics | undefined): Promise<{ state: SharedState, cache: CacheStoreHandle | undefined }> {
  const target = redisTargetOf(config.state)
  const raw = target === undefined
    ? createIpcState({ channel: process, timeoutMs: 250, log })
    : await createRedisState({ ...target, prefix: config.state?.prefix ?? 'swy', timeoutMs: config.state?.timeout ?? 250, log })
  const kind = target === undefined ? 'embedded' : target.mode === 'single' ? 'redis' : target.mode
  const state = metrics === undefined ? raw : meterState(raw, kind, metrics)
  if (!config.routes.some((r) => r.cache !== undefined)) return { state, cache: undefined }
  const cache = createCacheStore({
    state,
    keys: createKeys(config.state?.prefix ?? 'swy'),
    memoryBytes: config.cache.memory,
    now: Date.now,
    log: log.child({ concept: 'cache' })
  })
  // Subscribed to fills and purges before serving, but never held up by a state outage: waiters poll meanwhile.
  await Promise.race([cache.ready(), new Promise((resolve) => setTimeout(resolve, 1000).unref())])
  return { state, cache }
}

/** uWS takes WebSocket settings per app: the largest of the routes' (each route checks its own). */
function wsEngineOptions (config: Config): { maxMessage: number, maxBackpressure: number, deflate: boolean } {
  const ws = config.routes.map((r) => r.websocket).filter((w) => w.enabled)
  const maxMessage = Math.max(1024, ...ws.map((w) => w.max_message))
  return {
    maxMessage,
    // Never reached: the relay pauses the backend once a socket queues max_buffered, but the `ws` client still hands
    // over what it had already read, so a few messages may follow the pause. Past this, uWS would drop a message.
    maxBackpressure: Math.max(0, ...ws.map((w) => 2 * (w.max_buffered + w.max_message))) + 16 * 1024 * 1024,
    deflate: ws.some((w) => w.deflate)
  }
}

async function start (config: Config, generation: number): Promise<void> {
  const id = cluster.worker?.id ?? 0
  // Access lines may wait up to 100 ms to share a 4 KiB write (src/log/logger.ts); other lines do not wait.
  const log = createLogger({ level: config.log.level, pretty: config.log.pretty, base: { role: 'worker', worker: id, generation }, holdMs: 100 })
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception; exiting so the primary replaces this worker')
    process.exit(70)
  })
  process.on('unhandledRejection', (err) => { log.error({ err }, 'unhandled rejection') })

  const clock = (): number => performance.now()
  const metrics = config.metrics.enabled ? new WorkerMetrics(config) : undefined
  const { state, cache } = await sharedServices(config, log, metrics)
  const nextId = createRequestIds()
  const runtime = buildRuntime(config, {
    log,
    random: Math.random,
    nextId,
    state,
    workers: workerCount(config.workers),
    ...(cache === undefined ? {} : { cache }),
    onEjection: (upstream, e) => { send({ type: 'ejection', upstream, ...e }) },
    ...(metrics === undefined ? {} : { meter: (name: string) => metrics.upstream(name), wsMeter: (route: string) => metrics.websocket(route) })
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
  // Access lines to stdout with the rest, or to their own file, reopened on SIGUSR1 (the primary passes it on).
  const accessTo = config.log.access
  const accessFile = typeof accessTo === 'string'
    ? createFileLogger({ level: config.log.level, base: { role: 'worker', worker: id, generation }, holdMs: 100, file: accessTo })
    : undefined
  if (accessFile !== undefined) reopenAccess = () => { accessFile.reopen() }
  const logAccess = accessTo === false ? undefined : createAccessLog(accessFile?.log ?? log)
  // What a finished request leaves behind: its access line, its X-Cache in the cache's counters, its metrics, with
  // one reading of the clock for the line and the metrics (none when neither is on).
  const c = cache
  const logged = c === undefined
    ? logAccess ?? (() => {})
    : logAccess === undefined ? (ex: Exchange) => { c.answered(ex.cacheStatus) } : (ex: Exchange, end: number) => { c.answered(ex.cacheStatus); logAccess(ex, end) }
  const m = metrics
  const access = m !== undefined
    ? (ex: Exchange) => { const end = clock(); m.completed(ex, end); logged(ex, end) }
    : logAccess === undefined ? (ex: Exchange) => { logged(ex, 0) } : (ex: Exchange) => { logged(ex, clock()) }
  const common: ListenerOptions = {
    stages: () => runtime.stages,
    replies: createLocalReplies(log),
    onComplete: access,
    bodyHighWater: config.body_highwater,
    bodyTimeout: config.limits.body_timeout,
    clock,
    eagerPeer: config.log.access !== false,
    trusted: createCidrSet(config.trusted_proxies),
    nextId,
    routeHosts: config.routes.flatMap((r) => r.match.host === undefined ? [] : [r.match.host]),
    tlsNames: tlsNamesByPort(config.listen)
  }
  // Each listen address is served by its engine (README "Engines"): uWS, or node:http/node:http2.
  const parts: Array<{ listener: Listener, pick: (a: Config['listen'][number]) => boolean }> = []
  if (config.listen.some((l) => listenerEngine(l) === 'uws')) {
    parts.push({ listener: createUwsListener({ ...common, uws: engine.uws, websocket: wsEngineOptions(config) }), pick: (a) => listenerEngine(a) === 'uws' })
  }
  if (config.listen.some((l) => listenerEngine(l) === 'node')) {
    const node = createNodeListener({
      ...common,
      http2: config.http2,
      maxHeaderSize: config.limits.max_header_size,
      maxHeaders: config.limits.max_headers,
      reusePort: nodeHasReusePort(),
      websocket: { maxMessage: wsEngineOptions(config).maxMessage }
    })
    parts.push({ listener: node, pick: (a) => listenerEngine(a) === 'node' })
  }
  const listener = parts.length === 1 ? parts[0]!.listener : joinListeners(parts as Parameters<typeof joinListeners>[0])
  let ports: number[]
  try {
    ports = await listener.listen(config.listen)
  } catch (err) {
    log.fatal({ err }, 'cannot listen')
    send({ type: 'fatal', message: (err as Error).message, exitCode: EXIT.STARTUP })
    process.exit(EXIT.STARTUP)
  }
  send({ type: 'listening', ports })

  // Metric deltas to the primary about once a second, and a last one before exiting after a drain.
  const flush = (then?: () => void): void => {
    if (metrics === undefined || !process.connected) { then?.(); return }
    const s = cache?.stats()
    const m: FromWorker = {
      type: 'metrics',
      delta: metrics.collect({
        inflight: listener.inflight,
        servers: serverLevels(),
        ...(runtime.bans === undefined ? {} : { bans: runtime.bans.table.size }),
        ...(s === undefined ? {} : { cache: { memoryBytes: s.memoryBytes, memoryEntries: s.memoryEntries, fills: s.fills } })
      })
    }
    if (then === undefined) process.send?.(m)
    else process.send?.(m, () => { then() })
  }
  function serverLevels (): Record<string, Array<{ url: string, inflight: number, ejected: boolean }>> {
    const counters = runtime.counters()
    const out: Record<string, Array<{ url: string, inflight: number, ejected: boolean }>> = {}
    for (const [name, u] of runtime.upstreams) out[name] = u.targets.map((t, i) => ({ url: t.url, inflight: counters[name]?.[i]?.inflight ?? 0, ejected: counters[name]?.[i]?.ejected ?? false }))
    return out
  }
  const ticker = metrics === undefined ? undefined : setInterval(() => { flush() }, 1000)
  ticker?.unref()

  process.on('message', (m: unknown) => {
    if (!isToWorker(m) || m.type !== 'drain') return
    // Stop accepting, answer what is left with Connection: close, exit once idle (docs/uws.md §1).
    listener.drain(m.timeoutMs, m.handover ? DRAIN_ACCEPTED_MS : 0).then((left) => {
      if (left > 0) log.warn({ inflight: left }, 'drain deadline reached; cutting in-flight requests')
      return Promise.allSettled([runtime.close(200), cache?.close(), state.close()])
    }).finally(() => {
      clearInterval(ticker)
      // The last delta leaves before the process does (send is asynchronous); a stuck channel does not hold it.
      setTimeout(() => { process.exit(0) }, 1000).unref()
      flush(() => { process.exit(0) })
    })
  })
}
