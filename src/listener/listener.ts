// What a listener is, whatever its engine: it binds the listen addresses, turns each request into an Exchange with a
// Downstream of its engine, runs the current stages, and drains on reload or stop. uws/ is the uWS engine's; another
// engine (node:http2) implements the same interface beside it.
import type { Exchange, LocalReplies, Stage } from '../pipeline/index.ts'
import type { ListenConfig } from '../config/index.ts'

export interface ListenerOptions {
  /** The current stages; read per request, so a reload swaps one reference. */
  readonly stages: () => readonly Stage[]
  readonly replies: LocalReplies
  readonly onComplete: (ex: Exchange) => void
  /** Request-body bytes buffered ahead of a slow backend before the client is paused. */
  readonly bodyHighWater: number
  /** limits.body_timeout in ms: the longest a request body may stall; 0 leaves it to the engine. */
  readonly bodyTimeout: number
  readonly clock: () => number
  /**
   * Read each client's address when its request arrives, not when a stage first asks: set when something reads it
   * after the response is over (the access log). Otherwise a request that no stage asks about never pays for it.
   */
  readonly eagerPeer: boolean
  /** trusted_proxies: peers whose PROXY protocol v2 header names the client (see UwsDownstream.remoteAddress). */
  readonly trusted: { has (address: string): boolean, readonly size: number }
  /** Request ids for answers given before the runtime's guard runs (redirects, 421). */
  readonly nextId?: () => string
  /** Every route's `match.host`: hosts a redirect to HTTPS may point at. */
  readonly routeHosts?: readonly string[]
  /** The names the TLS listeners on a port serve (whatever their engine): a redirect to that port may point at them. */
  readonly tlsNames?: (port: number) => readonly string[]
}

/** One listener: a host and port, with `tls` (TLS termination) or `redirect_https` (answers only redirects) or neither. */
export type ListenAddress = Pick<ListenConfig, 'host' | 'port'> & Partial<Pick<ListenConfig, 'tls' | 'redirect_https' | 'engine' | 'http2' | 'h2c'>>

/** What every answer of a listener must know about the worker. */
export interface ListenerState {
  /** Set while the worker drains: every answer closes its connection and says so (docs/uws.md §1). */
  draining: boolean
  /** trusted_proxies: only these peers' PROXY protocol headers are believed. */
  readonly trusted: { has (address: string): boolean, readonly size: number }
}

export interface Listener {
  readonly state: ListenerState
  /** In-flight exchanges. */
  readonly inflight: number
  /**
   * Builds the app of each listener (TLS files are checked again first) and binds every address; throws naming the
   * first that fails, with nothing left bound. Returns the bound ports.
   */
  listen (addresses: readonly ListenAddress[]): number[] | Promise<number[]>
  /** Stops accepting; open connections keep being served. */
  stopAccepting (): void
  /**
   * Stops accepting and answers what is left with `Connection: close`; resolves once no request was in flight for
   * DRAIN_IDLE_MS and `minMs` have passed since it began (DRAIN_ACCEPTED_MS on a reload, 0 on a stop), or at the
   * deadline, with the requests still in flight then (they are cut when the worker exits).
   */
  drain (timeoutMs: number, minMs?: number): Promise<number>
}

/** How long a draining worker waits with nothing in flight before it goes (a client may be between two requests). */
export const DRAIN_IDLE_MS = 300

/**
 * How long a draining worker stays after its listeners closed, however idle. A connection the worker accepted just
 * before the close is not in flight until its request's bytes are read; a client that connected, then stalled (a busy
 * machine, a GC pause), sends them later. Leaving at 300 ms cut such a request once in ~7,000 new-connection
 * requests through 10 reloads (connection-close.test.ts) on a loaded 2-core CI machine. uWS 20.30 shows no JS the
 * connections that have no request yet, so the wait is a time, not a count.
 */
export const DRAIN_ACCEPTED_MS = 2000

/**
 * Resolves once `inflight()` has been 0 for DRAIN_IDLE_MS and at least `minMs` have passed, or after `timeoutMs`,
 * with `inflight()` then.
 */
export async function drainWhenIdle (inflight: () => number, timeoutMs: number, minMs = 0): Promise<number> {
  const started = Date.now()
  const deadline = started + timeoutMs
  let idleSince = started
  return await new Promise((resolve) => {
    const iv = setInterval(() => {
      if (inflight() > 0) idleSince = Date.now()
      if ((Date.now() - idleSince >= DRAIN_IDLE_MS && Date.now() - started >= minMs) || Date.now() > deadline) {
        clearInterval(iv)
        resolve(inflight())
      }
    }, 25)
  })
}

/**
 * One listener over several engines' listeners: each listens on its share of the addresses (`pick` says whose an
 * address is), ports come back in the addresses' order, and a drain drains them all.
 */
export function joinListeners (parts: ReadonlyArray<{ readonly listener: Listener, readonly pick: (a: ListenAddress) => boolean }>): Listener {
  const state = parts[0]!.listener.state
  return {
    get state () { return state },
    get inflight () { return parts.reduce((n, p) => n + p.listener.inflight, 0) },
    async listen (addresses) {
      const ports = new Array<number>(addresses.length)
      const done: Listener[] = []
      try {
        for (const p of parts) {
          const mine = addresses.map((a, i) => [a, i] as const).filter(([a]) => p.pick(a))
          if (mine.length === 0) continue
          const got = await p.listener.listen(mine.map(([a]) => a))
          done.push(p.listener)
          mine.forEach(([, i], j) => { ports[i] = got[j]! })
        }
      } catch (err) {
        for (const l of done) l.stopAccepting()
        throw err
      }
      return ports
    },
    stopAccepting () {
      for (const p of parts) p.listener.stopAccepting()
    },
    async drain (timeoutMs, minMs) {
      for (const p of parts) p.listener.state.draining = true
      const left = await Promise.all(parts.map(async (p) => await p.listener.drain(timeoutMs, minMs)))
      return left.reduce((a, b) => a + b, 0)
    }
  }
}
