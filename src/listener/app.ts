// The uWS adapter: copies each request into an Exchange (before any await: uws-notes.md §6), wires abort and
// request-body streaming, and runs the current runtime's stages. Stages never see uWS types.
import { Readable } from 'node:stream'
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js'
import { Exchange, runExchange, createRequestIds, type LocalReplies, type Stage } from '../pipeline/index.ts'
import type { ListenConfig } from '../config/index.ts'
import { UwsDownstream, type ListenerState } from './uws-downstream.ts'
import { createTlsApp } from './tls.ts'
import { createRedirect, createSniCheck } from './redirect.ts'
import type { UWS } from './uws.ts'

export interface ListenerOptions {
  readonly uws: UWS
  /** The current stages; read per request, so a reload swaps one reference. */
  readonly stages: () => readonly Stage[]
  readonly replies: LocalReplies
  readonly onComplete: (ex: Exchange) => void
  /** Request-body bytes buffered ahead of a slow backend before the client is paused. */
  readonly bodyHighWater: number
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
}

/** One listener: a host and port, with `tls` (an SSLApp) or `redirect_https` (answers only redirects) or neither. */
export type ListenAddress = Pick<ListenConfig, 'host' | 'port'> & Partial<Pick<ListenConfig, 'tls' | 'redirect_https'>>

/** What one uWS app runs per request: whether it is TLS, and the stages. */
interface Kind {
  readonly tls: boolean
  readonly stages: () => readonly Stage[]
}

export interface Listener {
  readonly state: ListenerState
  /** In-flight exchanges. */
  readonly inflight: number
  /**
   * Builds the app of each listener (TLS files are checked again first) and binds every address; throws naming the
   * first that fails, with nothing left bound. Returns the bound ports.
   */
  listen (addresses: readonly ListenAddress[]): number[]
  /** Stops accepting; open connections keep being served. */
  stopAccepting (): void
}

export function createListener (o: ListenerOptions): Listener {
  const { uws } = o
  const app: TemplatedApp = uws.App()
  const state: ListenerState = { draining: false, trusted: o.trusted }
  let sockets: us_listen_socket[] = []
  let inflight = 0
  const nextId = o.nextId ?? createRequestIds()
  /** Apps besides `app`, referenced for as long as the listener lives. */
  const held: TemplatedApp[] = []
  const plain: Kind = { tls: false, stages: o.stages }

  const onComplete = (ex: Exchange): void => {
    inflight--
    o.onComplete(ex)
  }

  // What one pass of req.forEach gathers; reset per request. One callback made here rather than a closure per
  // request (bench/load/cache.ts: fewer allocations on a hit).
  const seen = { headers: [] as string[], contentLength: -1, contentLengthCount: 0, chunked: false, host: '' }
  const onHeader = (k: string, v: string): void => {
    seen.headers.push(k, v)
    if (k === 'content-length') {
      if (seen.contentLengthCount++ === 0) seen.contentLength = Number(v)
    } else if (k === 'transfer-encoding') {
      seen.chunked = true
    } else if (k === 'host' && seen.host === '') {
      seen.host = v
    }
  }

  const handle = (res: HttpResponse, req: HttpRequest, kind: Kind = plain): void => {
    // 1. Copy everything from req: it is gone after the first await.
    const method = req.getCaseSensitiveMethod()
    const path = req.getUrl()
    const query = req.getQuery() ?? ''
    const headers: string[] = []
    seen.headers = headers
    seen.contentLength = -1
    seen.contentLengthCount = 0
    seen.chunked = false
    seen.host = ''
    req.forEach(onHeader)
    const { contentLength, contentLengthCount, chunked, host } = seen
    // 2. The abort handler, before anything can throw or wait (uws-notes.md rule 3).
    let ex: Exchange | null = null
    res.onAborted(() => { ex?.clientAborted() })
    try {
      inflight++
      const downstream = new UwsDownstream(res, method === 'HEAD', state)
      const body = chunked || contentLength > 0 ? bodyStream(downstream, o.bodyHighWater) : null
      ex = new Exchange({
        method,
        path,
        query,
        host,
        headers,
        contentLength,
        contentLengthCount,
        chunked,
        peerIp: downstream,
        tls: kind.tls,
        startTime: o.clock(),
        body,
        downstream,
        replies: o.replies,
        onComplete
      })
      downstream.attach(ex)
      if (o.eagerPeer) void ex.peerIp // the getter reads and keeps it while uWS still allows
      if (body !== null) feedBody(res, ex, downstream, body)
      runExchange(kind.stages(), ex)
    } catch (err) {
      // Only a bug gets here; answer rather than leave the request hanging.
      if (ex === null) { inflight--; res.cork(() => res.writeStatus('500 Internal Server Error').end('', true)) } else ex.fail(err)
    }
  }
  app.any('/*', handle)

  return {
    state,
    get inflight () { return inflight },
    listen (addresses) {
      const apps = appsFor(addresses)
      const ports: number[] = []
      for (const [i, a] of addresses.entries()) {
        let bound: us_listen_socket | false = false
        apps[i]!.listen(a.host, a.port, (ls) => { bound = ls })
        if (bound === false) {
          this.stopAccepting()
          throw new Error(`cannot listen on ${a.host}:${a.port} (address in use, not local, or not permitted)`)
        }
        sockets.push(bound)
        ports.push(uws.us_socket_local_port(bound as unknown as Parameters<UWS['us_socket_local_port']>[0]))
      }
      return ports
    },
    stopAccepting () {
      // Each socket closed exactly once: closing a failed or closed socket crashes (uws-notes.md rule 12).
      for (const ls of sockets) uws.us_listen_socket_close(ls)
      sockets = []
    }
  }

  /**
   * The uWS app of each address: the shared plain app, an SSLApp per TLS listener (one certificate set each), an app
   * per redirecting listener. All run the same handler; only TLS and the entry stages differ.
   */
  function appsFor (addresses: readonly ListenAddress[]): TemplatedApp[] {
    const ssl = new Map<number, TemplatedApp>()
    const tlsNames = new Map<number, string[]>() // port → names served over TLS there
    for (const [i, a] of addresses.entries()) {
      if (a.tls === undefined) continue
      const t = createTlsApp(uws, a.tls, `listen[${i}]`, (hosts) => {
        const stages = hosts === null ? o.stages : constant([createSniCheck(hosts, o.stages, nextId)])
        const kind: Kind = { tls: true, stages }
        return (res, req) => { handle(res, req, kind) }
      })
      ssl.set(i, t.app)
      held.push(t.app)
      tlsNames.set(a.port, [...(tlsNames.get(a.port) ?? []), ...t.names])
    }
    return addresses.map((a, i) => {
      const r = a.redirect_https
      if (r === undefined) return ssl.get(i) ?? app
      const redirect = createRedirect({
        port: r.port,
        status: r.status,
        host: r.host,
        hosts: [...(o.routeHosts ?? []), ...(tlsNames.get(r.port) ?? [])],
        nextId
      })
      const kind: Kind = { tls: false, stages: constant([redirect]) }
      const ra = uws.App()
      ra.any('/*', (res, req) => { handle(res, req, kind) })
      held.push(ra)
      return ra
    })
  }
}

function constant (stages: readonly Stage[]): () => readonly Stage[] {
  return () => stages
}

/**
 * The request body as a Readable for undici, with backpressure: when undici's buffer is full the client is
 * paused, and resumed when undici reads again (uws-notes.md §2).
 */
function bodyStream (down: UwsDownstream, highWaterMark: number): Readable {
  return new Readable({
    highWaterMark,
    read () { down.resumeBody() }
  })
}

/**
 * Feeds the client's body into `body`. Chunks are copied: uWS detaches them. Bytes are counted against the route's
 * max_body (ex.maxBody, set by the limits stage before the first chunk can arrive): a chunked body has no length to
 * check up front, so the one that grows past it ends the exchange here (Exchange.bodyTooLarge).
 */
function feedBody (res: HttpResponse, ex: Exchange, down: UwsDownstream, body: Readable): void {
  let received = 0
  res.onData((ab, isLast) => {
    // uWS keeps delivering the rest of a body after an early answer (uws-notes.md §2).
    if (!down.wantsBody || body.destroyed) return
    received += ab.byteLength
    if (received > ex.maxBody) {
      ex.bodyTooLarge()
      return
    }
    if (ab.byteLength > 0 && !body.push(Buffer.from(ab.slice(0))) && !isLast) down.pauseBody()
    if (isLast) body.push(null)
  })
}
