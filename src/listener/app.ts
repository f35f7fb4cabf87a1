// The uWS adapter: copies each request into an Exchange (before any await: uws-notes.md §6), wires abort and
// request-body streaming, and runs the current runtime's stages. Stages never see uWS types.
import { Readable } from 'node:stream'
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js'
import { normaliseAddress } from '../net/cidr.ts'
import { Exchange, runExchange, type LocalReplies, type Stage } from '../pipeline/index.ts'
import { UwsDownstream, type ListenerState } from './uws-downstream.ts'
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
}

export interface Listener {
  readonly state: ListenerState
  /** In-flight exchanges. */
  readonly inflight: number
  /** Binds every address; throws naming the first that fails. Returns the bound ports. */
  listen (addresses: readonly { host: string, port: number }[]): number[]
  /** Stops accepting; open connections keep being served. */
  stopAccepting (): void
}

export function createListener (o: ListenerOptions): Listener {
  const { uws } = o
  const app: TemplatedApp = uws.App()
  const state: ListenerState = { draining: false }
  let sockets: us_listen_socket[] = []
  let inflight = 0

  const onComplete = (ex: Exchange): void => {
    inflight--
    o.onComplete(ex)
  }

  const handle = (res: HttpResponse, req: HttpRequest): void => {
    // 1. Copy everything from req: it is gone after the first await.
    const method = req.getCaseSensitiveMethod()
    const path = req.getUrl()
    const query = req.getQuery() ?? ''
    const headers: string[] = []
    let contentLength = -1
    let contentLengthCount = 0
    let chunked = false
    let host = ''
    req.forEach((k, v) => {
      headers.push(k, v)
      if (k === 'content-length') {
        if (contentLengthCount++ === 0) contentLength = Number(v)
      } else if (k === 'transfer-encoding') {
        chunked = true
      } else if (k === 'host' && host === '') {
        host = v
      }
    })
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
        peerIp: normaliseAddress(Buffer.from(res.getRemoteAddressAsText()).toString()),
        tls: false,
        startTime: o.clock(),
        body,
        downstream,
        replies: o.replies,
        onComplete
      })
      downstream.attach(ex)
      if (body !== null) feedBody(res, ex, downstream, body)
      runExchange(o.stages(), ex)
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
      const ports: number[] = []
      for (const a of addresses) {
        let bound: us_listen_socket | false = false
        app.listen(a.host, a.port, (ls) => { bound = ls })
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
