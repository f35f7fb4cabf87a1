// The primary's side of the worker pool: forks one worker per core, waits until each listens, replaces workers
// that die (with backoff), swaps whole generations of workers on reload, and stops them gracefully.
// It never carries client traffic.
import cluster, { type Worker } from 'node:cluster'
import { availableParallelism } from 'node:os'
import type { Logger } from 'pino'
import type { Config } from '../config/index.ts'
import { isFromWorker, type FromWorker, type ToWorker } from './messages.ts'

export interface SupervisorOptions {
  readonly config: Config
  readonly log: Logger
  /** Worker entry file. Read again at every fork, so a reload runs the code now on disk. */
  readonly exec: string
  /** Messages a new worker of `generation` gets right after its config (the current health of each upstream). */
  readonly snapshot?: (generation: number) => readonly ToWorker[]
  /** Every other message a worker sends once it runs (ejections). */
  readonly onMessage?: (worker: WorkerInfo, m: FromWorker) => void
  /** A worker process exited (any reason, any generation). */
  readonly onExit?: (worker: WorkerInfo) => void
  readonly now?: () => number
}

export class StartupError extends Error {
  readonly exitCode: number
  constructor (message: string, exitCode: number) {
    super(message)
    this.name = 'StartupError'
    this.exitCode = exitCode
  }
}

/** One worker as `status()` reports it. */
export interface WorkerInfo {
  readonly id: number
  readonly pid: number | undefined
  readonly generation: number
  /** starting: forked, not listening yet; serving; draining: its generation was replaced or the proxy is stopping. */
  readonly state: 'starting' | 'serving' | 'draining'
  readonly startedAt: number
}

interface Tracked {
  readonly worker: Worker
  readonly generation: number
  readonly startedAt: number
  state: WorkerInfo['state']
}

/**
 * V8 sizes its heap for a small program, and a proxy under load is not one.
 * - `--initial-heap-size=64`: a worker's live heap was ~10 MB, so V8 set the old generation's GC trigger just above
 *   it, and the objects each in-flight request keeps alive past two scavenges ran a full mark-compact every ~80 ms.
 *   48 → 5 mark-compacts in 6 s of 64 KiB proxying, p99 31 → 24 ms (bench/load/run.ts --tool wrk --pin --scenarios 64k).
 * - `--max-semi-space-size=32` (MB): the young generation otherwise stays small, and 64 KiB responses (undici's body
 *   chunks, external memory) filled it every few milliseconds; survivors of those scavenges were promoted and the
 *   throughput swung between two levels from run to run. One worker, 64 KiB through the proxy, wrk pinned, 4
 *   alternating rounds: 9.4k–13.1k req/s against 6.5k–8.1k, p99 8–24 ms against 29–37 ms; 100 B and cache hits
 *   unchanged within noise. Cost: 169 MB RSS against 153 MB for a worker under that 64 KiB load.
 * - `--no-allocation-site-pretenuring`: on Node 24 (V8 13.6) V8 decided early under load that the request path's
 *   allocation sites make long-lived objects and allocated them in the old generation from then on. A dead old object
 *   still counts as a root in a scavenge, so everything it pointed to survived and was promoted too (1.75 MB per
 *   scavenge against 20 KB on Node 20), each scavenge took ~5 ms instead of ~1, and mark-compacts came every 2–3 s:
 *   p99 of 100 B proxying 4.4× nginx's against 1.75× with the flag (`--trace-gc-nvp`; README, Benchmarks). Node 20
 *   showed no such promotion and no difference. test/integration/worker-heap.test.ts.
 */
export const WORKER_V8_FLAGS = ['--initial-heap-size=64', '--max-semi-space-size=32', '--no-allocation-site-pretenuring']
const STARTUP_TIMEOUT_MS = 15_000
const CRASH_WINDOW_MS = 30_000
const MAX_BACKOFF_MS = 10_000

function info (t: Tracked): WorkerInfo {
  return { id: t.worker.id, pid: t.worker.process.pid, generation: t.generation, state: t.state, startedAt: t.startedAt }
}

/** Delay before replacing the n-th worker death within the crash window: 0 for the first, then 100 ms doubling to 10 s. */
function backoff (n: number): number {
  return n <= 1 ? 0 : Math.min(MAX_BACKOFF_MS, 100 * 2 ** (n - 2))
}

export function workerCount (w: Config['workers']): number {
  return w === 'auto' ? availableParallelism() : w
}

export class Supervisor {
  readonly #o: SupervisorOptions
  readonly #log: Logger
  readonly #now: () => number
  readonly #workers = new Map<Worker, Tracked>()
  #config: Config
  #crashes: number[] = []
  #replaced = 0
  #stopping = false
  /** The generation that serves (and whose dead workers are replaced). */
  #generation = 1
  #timers = new Set<NodeJS.Timeout>()
  readonly #replies = new Map<number, (m: Extract<FromWorker, { type: 'stats' }>) => void>()
  #nextAsk = 1
  /** Configs of generations still starting or draining. */
  readonly #configs = new Map<number, Config>()
  /** Reloads run one after the other. */
  #queue: Promise<unknown> = Promise.resolve()

  constructor (o: SupervisorOptions) {
    this.#o = o
    this.#log = o.log
    this.#now = o.now ?? Date.now
    this.#config = o.config
    // Node-engine listeners without reusePort (Node 20): the primary opens each socket once and every worker accepts
    // on it, rather than the primary accepting each connection and passing it on (SCHED_RR, node's default).
    cluster.schedulingPolicy = cluster.SCHED_NONE
    cluster.setupPrimary({ exec: o.exec, execArgv: [...process.execArgv, ...WORKER_V8_FLAGS] })
  }

  get workers (): number { return this.#workers.size }
  get generation (): number { return this.#generation }
  get config (): Config { return this.#config }
  /** Serving workers that died and were replaced (or are waiting for their replacement) since the start. */
  get replaced (): number { return this.#replaced }

  /** The config workers of `generation` run (while any of them lives), or undefined. */
  configOf (generation: number): Config | undefined {
    return generation === this.#generation ? this.#config : this.#configs.get(generation)
  }

  /** Replaces the config of generation 1 before start() (the file plus runtime membership). */
  setInitial (config: Config): void {
    this.#config = config
  }

  /** Worker deaths in the last 30 s and the delay before the next replacement (0: at once). */
  restarts (): { readonly recent: number, readonly windowMs: number, readonly backoffMs: number } {
    const now = this.#now()
    const recent = this.#crashes.filter((t) => now - t < CRASH_WINDOW_MS).length
    return { recent, windowMs: CRASH_WINDOW_MS, backoffMs: backoff(recent + 1) }
  }

  status (): WorkerInfo[] {
    return [...this.#workers.values()].map(info)
  }

  /** Counters of every serving worker of the current generation; a worker that does not answer in `timeoutMs` is left out. */
  async stats (timeoutMs = 500): Promise<Array<Extract<FromWorker, { type: 'stats' }>>> {
    const serving = [...this.#workers.values()].filter((t) => t.generation === this.#generation && t.state === 'serving')
    const answers = await Promise.all(serving.map(async (t) => await new Promise<Extract<FromWorker, { type: 'stats' }> | undefined>((resolve) => {
      const id = this.#nextAsk++
      const timer = setTimeout(() => { this.#replies.delete(id); resolve(undefined) }, timeoutMs)
      this.#replies.set(id, (m) => { clearTimeout(timer); this.#replies.delete(id); resolve(m) })
      this.#send(t.worker, { type: 'stats?', id })
    })))
    return answers.filter((a) => a !== undefined)
  }

  /** Forks every worker and resolves once all of them listen; rejects with StartupError if any cannot. */
  async start (): Promise<number[]> {
    const ports = await this.#startGeneration(this.#config, this.#generation)
    return ports
  }

  /**
   * Zero-downtime reload (docs/uws.md §1): forks a whole new generation with `config`; once every new worker
   * listens, each old worker stops accepting, answers what it still has with `Connection: close`, and exits once
   * idle (bounded by shutdown.drain_timeout). If any new worker fails, the new generation is stopped, the old one
   * keeps serving and this rejects with StartupError. Resolves once the new generation serves; the old one
   * drains in the background. `generation` must be higher than the current one.
   */
  async reload (config: Config, generation: number): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.#stopping) throw new StartupError('the proxy is stopping', 3)
      await this.#startGeneration(config, generation)
      const old = [...this.#workers.values()].filter((t) => t.generation !== generation)
      this.#generation = generation
      this.#config = config
      this.#crashes = []
      for (const t of old) this.#drain(t, config.shutdown.drain_timeout, true)
    }
    const p = this.#queue.then(run, run)
    this.#queue = p.catch(() => {})
    await p
  }

  async #startGeneration (config: Config, generation: number): Promise<number[]> {
    this.#configs.set(generation, config)
    const n = workerCount(config.workers)
    const results = await Promise.allSettled(Array.from({ length: n }, async () => await this.#spawn(config, generation)))
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) {
      // Whatever of this generation did start must go again; the serving generation is not touched.
      await Promise.all([...this.#workers.values()].filter((t) => t.generation === generation).map(async (t) => { await this.#drain(t, 1000) }))
      throw failed.reason instanceof StartupError ? failed.reason : new StartupError(String(failed.reason), 3)
    }
    return (results[0] as PromiseFulfilledResult<number[]>).value
  }

  async #spawn (config: Config, generation: number): Promise<number[]> {
    // uWebSockets.js 20.57 reads its head-size cap from the environment when it loads (20.30 ignores it).
    const w = cluster.fork({ UWS_HTTP_MAX_HEADERS_SIZE: String(config.limits.max_header_size) })
    const tracked: Tracked = { worker: w, generation, startedAt: this.#now(), state: 'starting' }
    this.#workers.set(w, tracked)
    w.on('exit', (code, signal) => {
      this.#workers.delete(w)
      this.#o.onExit?.(info(tracked))
      if (generation !== this.#generation && ![...this.#workers.values()].some((t) => t.generation === generation)) this.#configs.delete(generation)
      if (this.#stopping || tracked.state !== 'serving' || generation !== this.#generation) return
      this.#log.warn({ worker: w.id, pid: w.process.pid, generation, code, signal, uptimeMs: this.#now() - tracked.startedAt }, 'worker died; replacing it')
      this.#replace()
    })
    w.on('error', (err) => { this.#log.warn({ worker: w.id, err }, 'worker IPC error') })
    w.on('message', (m: unknown) => {
      if (!isFromWorker(m) || m.type === 'hello' || m.type === 'listening' || m.type === 'fatal') return
      if (m.type === 'stats') { this.#replies.get(m.id)?.(m); return }
      this.#o.onMessage?.(info(tracked), m)
    })
    const ports = await new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new StartupError(`worker ${w.id} did not listen within ${STARTUP_TIMEOUT_MS} ms`, 3)) }, STARTUP_TIMEOUT_MS)
      const onMessage = (m: unknown): void => {
        if (!isFromWorker(m)) return
        const msg: FromWorker = m
        if (msg.type === 'hello') {
          this.#send(w, { type: 'config', config, generation })
          for (const s of this.#o.snapshot?.(generation) ?? []) this.#send(w, s)
        } else if (msg.type === 'listening') {
          cleanup()
          if (tracked.state === 'starting') tracked.state = 'serving'
          resolve([...msg.ports])
        } else if (msg.type === 'fatal') { cleanup(); reject(new StartupError(msg.message, msg.exitCode)) }
      }
      const onExit = (code: number | null, signal: string | null): void => {
        cleanup()
        reject(new StartupError(`worker ${w.id} exited during startup (code ${String(code)}, signal ${String(signal)})`, 3))
      }
      const cleanup = (): void => { clearTimeout(timer); w.off('message', onMessage); w.off('exit', onExit) }
      w.on('message', onMessage)
      w.on('exit', onExit)
    })
    this.#log.debug({ worker: w.id, pid: w.process.pid, generation, ports }, 'worker listening')
    return ports
  }

  /** Replaces a dead worker: at once for the first crash, then doubling (100 ms … 10 s) while crashes keep coming. */
  #replace (): void {
    const now = this.#now()
    this.#replaced++
    this.#crashes = this.#crashes.filter((t) => now - t < CRASH_WINDOW_MS)
    this.#crashes.push(now)
    const n = this.#crashes.length
    const delay = backoff(n)
    if (n >= 5) this.#log.error({ crashes: n, windowMs: CRASH_WINDOW_MS, nextInMs: delay }, 'workers are crash-looping; backing off')
    const generation = this.#generation
    const t = setTimeout(() => {
      this.#timers.delete(t)
      // A reload in between brought a whole new generation; this replacement is not needed any more.
      if (this.#stopping || generation !== this.#generation) return
      this.#spawn(this.#config, generation).catch((err: unknown) => {
        this.#log.error({ err }, 'replacement worker failed to start')
        if (generation === this.#generation) this.#replace()
      })
    }, delay)
    this.#timers.add(t)
  }

  /**
   * Asks one worker to drain and resolves when it has exited; kills it after the timeout (+1 s). `handover`: a newer
   * generation has taken over the listeners (a reload), not a stop.
   */
  async #drain (t: Tracked, timeoutMs: number, handover = false): Promise<void> {
    const w = t.worker
    t.state = 'draining'
    if (w.isDead()) return
    // Not events.once: it rejects on 'error', and a worker that exits as the drain message goes out makes the send
    // fail with EPIPE (an 'error' on the worker): the drain must still wait for the exit, not throw (it took the
    // primary down in a Node 24 CI run of 10 reloads).
    const exited = new Promise<void>((resolve) => { w.once('exit', () => { resolve() }) })
    this.#send(w, { type: 'drain', timeoutMs, handover })
    const kill = setTimeout(() => { w.process.kill('SIGKILL') }, timeoutMs + 1000)
    await exited
    clearTimeout(kill)
  }

  /** Asks every worker to drain and waits for them to exit; kills what is left after the timeout (+1 s). */
  async stop (timeoutMs: number): Promise<void> {
    this.#stopping = true
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    await Promise.all([...this.#workers.values()].map(async (t) => { await this.#drain(t, timeoutMs) }))
  }

  /** Sends `m` to every live worker of `generation`. */
  broadcast (m: ToWorker, generation: number): void {
    for (const t of this.#workers.values()) if (t.generation === generation) this.#send(t.worker, m)
  }

  #send (w: Worker, m: ToWorker): void {
    if (w.isConnected()) w.send(m)
  }
}
