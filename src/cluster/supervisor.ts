// The primary's side of the worker pool: forks one worker per core, waits until each listens, replaces workers
// that die (with backoff), and stops them gracefully. It never carries client traffic.
import cluster, { type Worker } from 'node:cluster'
import { availableParallelism } from 'node:os'
import { once } from 'node:events'
import type { Logger } from 'pino'
import type { Config } from '../config/index.ts'
import { isFromWorker, type FromWorker, type ToWorker } from './messages.ts'

export interface SupervisorOptions {
  readonly config: Config
  readonly log: Logger
  /** Worker entry file. */
  readonly exec: string
  /** Messages every new worker gets right after its config (the current health of each upstream). */
  readonly snapshot?: () => readonly ToWorker[]
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

/**
 * A worker's live heap is ~10 MB, so V8 sized the old generation's GC trigger just above it, and the objects
 * each in-flight request keeps alive past two scavenges ran a full mark-compact every ~80 ms under load.
 * Starting with a 64 MB heap budget: 48 → 5 mark-compacts in 6 s of 64 KiB proxying, p99 31 → 24 ms
 * (bench/load/run.ts --tool wrk --pin --scenarios 64k).
 */
const WORKER_V8_FLAGS = ['--initial-heap-size=64']
const STARTUP_TIMEOUT_MS = 15_000
const CRASH_WINDOW_MS = 30_000
const MAX_BACKOFF_MS = 10_000

export function workerCount (w: Config['workers']): number {
  return w === 'auto' ? availableParallelism() : w
}

export class Supervisor {
  readonly #o: SupervisorOptions
  readonly #log: Logger
  readonly #now: () => number
  readonly #workers = new Set<Worker>()
  #crashes: number[] = []
  #stopping = false
  #generation = 1
  #timers = new Set<NodeJS.Timeout>()

  constructor (o: SupervisorOptions) {
    this.#o = o
    this.#log = o.log
    this.#now = o.now ?? Date.now
    cluster.setupPrimary({ exec: o.exec, execArgv: [...process.execArgv, ...WORKER_V8_FLAGS] })
  }

  get workers (): number { return this.#workers.size }

  /** Forks every worker and resolves once all of them listen; rejects with StartupError if any cannot. */
  async start (): Promise<number[]> {
    const n = workerCount(this.#o.config.workers)
    const results = await Promise.allSettled(Array.from({ length: n }, async () => await this.#spawn()))
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) {
      await this.stop(1000)
      throw failed.reason instanceof StartupError ? failed.reason : new StartupError(String(failed.reason), 3)
    }
    return (results[0] as PromiseFulfilledResult<number[]>).value
  }

  async #spawn (): Promise<number[]> {
    const w = cluster.fork()
    this.#workers.add(w)
    const started = this.#now()
    let listening = false
    w.on('exit', (code, signal) => {
      this.#workers.delete(w)
      if (this.#stopping || !listening) return
      this.#log.warn({ worker: w.id, pid: w.process.pid, code, signal, uptimeMs: this.#now() - started }, 'worker died; replacing it')
      this.#replace()
    })
    w.on('error', (err) => { this.#log.warn({ worker: w.id, err }, 'worker IPC error') })
    const ports = await new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new StartupError(`worker ${w.id} did not listen within ${STARTUP_TIMEOUT_MS} ms`, 3)) }, STARTUP_TIMEOUT_MS)
      const onMessage = (m: unknown): void => {
        if (!isFromWorker(m)) return
        const msg: FromWorker = m
        if (msg.type === 'hello') {
          this.#send(w, { type: 'config', config: this.#o.config, generation: this.#generation })
          for (const s of this.#o.snapshot?.() ?? []) this.#send(w, s)
        }
        else if (msg.type === 'listening') { listening = true; cleanup(); resolve([...msg.ports]) } else if (msg.type === 'fatal') { cleanup(); reject(new StartupError(msg.message, msg.exitCode)) }
      }
      const onExit = (code: number | null, signal: string | null): void => {
        cleanup()
        reject(new StartupError(`worker ${w.id} exited during startup (code ${String(code)}, signal ${String(signal)})`, 3))
      }
      const cleanup = (): void => { clearTimeout(timer); w.off('message', onMessage); w.off('exit', onExit) }
      w.on('message', onMessage)
      w.on('exit', onExit)
    })
    this.#log.debug({ worker: w.id, pid: w.process.pid, ports }, 'worker listening')
    return ports
  }

  /** Replaces a dead worker: at once for the first crash, then doubling (100 ms … 10 s) while crashes keep coming. */
  #replace (): void {
    const now = this.#now()
    this.#crashes = this.#crashes.filter((t) => now - t < CRASH_WINDOW_MS)
    this.#crashes.push(now)
    const n = this.#crashes.length
    const delay = n <= 1 ? 0 : Math.min(MAX_BACKOFF_MS, 100 * 2 ** (n - 2))
    if (n >= 5) this.#log.error({ crashes: n, windowMs: CRASH_WINDOW_MS, nextInMs: delay }, 'workers are crash-looping; backing off')
    const t = setTimeout(() => {
      this.#timers.delete(t)
      if (this.#stopping) return
      this.#spawn().catch((err: unknown) => {
        this.#log.error({ err }, 'replacement worker failed to start')
        this.#replace()
      })
    }, delay)
    this.#timers.add(t)
  }

  /** Asks every worker to drain and waits for them to exit; kills what is left after the timeout (+1 s). */
  async stop (timeoutMs: number): Promise<void> {
    this.#stopping = true
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    const workers = [...this.#workers]
    await Promise.all(workers.map(async (w) => {
      if (w.isDead()) return
      const exited = once(w, 'exit')
      this.#send(w, { type: 'drain', timeoutMs })
      const kill = setTimeout(() => { w.process.kill('SIGKILL') }, timeoutMs + 1000)
      await exited
      clearTimeout(kill)
    }))
  }

  /** Sends `m` to every live worker. */
  broadcast (m: ToWorker): void {
    for (const w of this.#workers) this.#send(w, m)
  }

  #send (w: Worker, m: ToWorker): void {
    if (w.isConnected()) w.send(m)
  }
}
