// The uWS engine's listener: copies each request into an Exchange (before any await: docs/uws.md §6), wires abort
// and request-body streaming, and runs the current runtime's stages. Stages never see uWS types; every uWS response
// write is in downstream.ts.
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t, WebSocketBehavior } from 'uWebSockets.js'
import { copyChunk } from '../../net/index.ts'
import { Exchange, RequestBody, runExchange, createRequestIds, type Stage } from '../../pipeline/index.ts'
import type { UWS } from '../../engine/index.ts'
import { createRedirect, createSniCheck } from '../entry-stages.ts'
import { drainWhenIdle, type ListenAddress, type Listener, type ListenerOptions, type ListenerState } from '../listener.ts'
import { createBodyTimeouts, type BodyTimeouts } from '../body-timeout.ts'
import { UwsDownstream, answerFault, CLIENT_CLOSES, CLIENT_KEEPS, UWS_CLOSES, type ClientClose } from './downstream.ts'
import { createTlsApp } from './tls.ts'
import { UwsUpgrade, wsBehavior, type UwsClientSocket, type WsEngineOptions, type WsUserData } from './websocket.ts'

export interface UwsListenerOptions extends ListenerOptions {
  readonly uws: UWS
  /** WebSocket upgrades (every route carries them unless it says otherwise); absent: none are taken. */
  readonly websocket?: WsEngineOptions
}

/** How long a draining worker waits for clients to answer its 1001 close frames before it exits. */
const CLOSE_GRACE_MS = 500

/** What one uWS app runs per request: whether it is TLS, and the stages. */
interface Kind {
  readonly tls: boolean
  readonly stages: () => readonly Stage[]
}

type Handler = (res: HttpResponse, req: HttpRequest, kind?: Kind, context?: us_socket_context_t) => void
/** The `ws()` behavior for apps of one kind; undefined when the listener takes no upgrades. */
type WsFor = (kind: Kind) => WebSocketBehavior<WsUserData> | undefined

export function createUwsListener (o: UwsListenerOptions): Listener {
  const { uws } = o
  const state: ListenerState = { draining: false, trusted: o.trusted }
  const count = { inflight: 0 }
  /** Open client WebSockets: a drain that times out closes them with 1001. */
  const open = new Set<UwsClientSocket>()
  const handle = createHandler(o, state, count, open)
  const ws = o.websocket
  const wsFor: WsFor = (kind) => ws === undefined ? undefined : wsBehavior(uws, ws, open, (res, req, context) => { handle(res, req, kind, context) })
  const app: TemplatedApp = uws.App()
  app.any('/*', handle)
  const plainWs = wsFor({ tls: false, stages: o.stages })
  if (plainWs !== undefined) app.ws('/*', plainWs)
  const nextId = o.nextId ?? createRequestIds()
  /** Apps besides `app`, referenced for as long as the listener lives. */
  const held: TemplatedApp[] = []
  let sockets: us_listen_socket[] = []

  return {
    state,
    get inflight () { return count.inflight },
    listen (addresses) {
      const apps = appsFor({ o, app, handle, nextId, held, wsFor }, addresses)
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
      // Each socket closed exactly once: closing a failed or closed socket crashes (docs/uws.md, rule 12).
      for (const ls of sockets) uws.us_listen_socket_close(ls)
      sockets = []
    },
    async drain (timeoutMs, minMs = 0) {
      state.draining = true
      this.stopAccepting()
      const left = await drainWhenIdle(() => count.inflight, timeoutMs, minMs)
      if (open.size === 0) return left
      // WebSockets still open at the deadline: Going Away (RFC 6455 §7.4.1), and a moment for the close frames.
      for (const s of [...open]) s.end(1001, 'going away')
      return await drainWhenIdle(() => count.inflight, CLOSE_GRACE_MS)
    }
  }
}

/** The request handler every app of the listener runs; `kind` says whether it is TLS and which stages run. */
function createHandler (o: UwsListenerOptions, state: ListenerState, count: { inflight: number }, open: Set<UwsClientSocket>): Handler {
  const plain: Kind = { tls: false, stages: o.stages }
  const timeouts = createBodyTimeouts(o.bodyTimeout, o.clock)
  const onComplete = (ex: Exchange): void => {
    count.inflight--
    o.onComplete(ex)
  }

  // What one pass of req.forEach gathers; reset per request. One callback made here rather than a closure per
  // request (bench/load/cache.ts: fewer allocations on a hit).
  const seen = { headers: [] as string[], contentLength: -1, contentLengthCount: 0, chunked: false, host: '', connection: undefined as string | undefined, close: false }
  const onHeader = (k: string, v: string): void => {
    seen.headers.push(k, v)
    if (k === 'content-length') {
      if (seen.contentLengthCount++ === 0) seen.contentLength = Number(v)
    } else if (k === 'transfer-encoding') {
      seen.chunked = true
    } else if (k === 'host' && seen.host === '') {
      seen.host = v
    } else if (k === 'connection') {
      seen.connection ??= v
      if (!seen.close) seen.close = hasCloseOption(v)
    }
  }

  return (res, req, kind = plain, context) => {
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
    seen.connection = undefined
    seen.close = false
    req.forEach(onHeader)
    const { contentLength, contentLengthCount, chunked, host } = seen
    // uWS closes after the answer when the first Connection value is 5 bytes long (`close`, any case): docs/engines.md.
    const first = seen.connection as string | undefined // set by onHeader, which the narrowing above cannot see
    const close: ClientClose = first?.length === 5 ? UWS_CLOSES : seen.close ? CLIENT_CLOSES : CLIENT_KEEPS
    // 2. The abort handler, before anything can throw or wait (docs/uws.md, rule 3).
    let ex: Exchange | null = null
    // A WebSocket handshake (uWS calls the ws behavior's upgrade only for a valid one): completed once the backend accepts.
    const upgrade = context === undefined ? undefined : upgradeOf(res, headers, context, open)
    res.onAborted(() => {
      if (upgrade !== undefined) upgrade.aborted = true
      ex?.clientAborted()
    })
    try {
      count.inflight++
      const downstream = new UwsDownstream(res, method === 'HEAD', close, state)
      // With backpressure: when the upstream client's buffer is full the client is paused, and resumed when it reads again.
      const body = chunked || contentLength > 0 ? new RequestBody(o.bodyHighWater, () => { downstream.resumeBody() }) : null
      ex = new Exchange({
        method, path, query, host, headers, contentLength, contentLengthCount, chunked,
        peerIp: downstream,
        tls: kind.tls,
        startTime: o.clock(),
        body,
        ...(upgrade === undefined ? {} : { upgrade }),
        downstream,
        replies: o.replies,
        onComplete
      })
      downstream.attach(ex)
      if (o.eagerPeer) void ex.peerIp // the getter reads and keeps it while uWS still allows
      if (body !== null) feedBody(res, ex, downstream, body, timeouts)
      runExchange(kind.stages(), ex)
    } catch (err) {
      // Only a bug gets here; answer rather than leave the request hanging.
      if (ex === null) { count.inflight--; answerFault(res) } else ex.fail(err)
    }
  }
}

interface AppsContext {
  readonly o: UwsListenerOptions
  /** The shared plain app. */
  readonly app: TemplatedApp
  readonly handle: Handler
  readonly nextId: () => string
  /** Where the other apps are kept referenced. */
  readonly held: TemplatedApp[]
  readonly wsFor: WsFor
}

/**
 * The uWS app of each address: the shared plain app, an SSLApp per TLS listener (one certificate set each), an app
 * per redirecting listener. All run the same handler; only TLS and the entry stages differ.
 */
function appsFor (c: AppsContext, addresses: readonly ListenAddress[]): TemplatedApp[] {
  const { o, handle, nextId, held, wsFor } = c
  const ssl = new Map<number, TemplatedApp>()
  const tlsNames = new Map<number, string[]>() // port → names served over TLS there
  for (const [i, a] of addresses.entries()) {
    if (a.tls === undefined) continue
    const t = createTlsApp(o.uws, a.tls, `listen[${i}]`, (hosts) => {
      const stages = hosts === null ? o.stages : constant([createSniCheck(hosts, o.stages, nextId)])
      const kind: Kind = { tls: true, stages }
      return { any: (res, req) => { handle(res, req, kind) }, ws: wsFor(kind) }
    })
    ssl.set(i, t.app)
    held.push(t.app)
    tlsNames.set(a.port, [...(tlsNames.get(a.port) ?? []), ...t.names])
  }
  return addresses.map((a, i) => {
    const r = a.redirect_https
    if (r === undefined) return ssl.get(i) ?? c.app
    const redirect = createRedirect({
      port: r.port,
      status: r.status,
      host: r.host,
      hosts: [...(o.routeHosts ?? []), ...(tlsNames.get(r.port) ?? []), ...(o.tlsNames?.(r.port) ?? [])],
      nextId
    })
    const kind: Kind = { tls: false, stages: constant([redirect]) }
    const ra = o.uws.App()
    ra.any('/*', (res, req) => { handle(res, req, kind) })
    held.push(ra)
    return ra
  })
}

/** The upgrade a handshake carries: its key, offered subprotocols and extensions, from the copied headers. */
function upgradeOf (res: HttpResponse, headers: readonly string[], context: us_socket_context_t, open: Set<UwsClientSocket>): UwsUpgrade {
  let key = ''
  let protocols = ''
  let extensions = ''
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!
    if (n === 'sec-websocket-key') key = headers[i + 1]!
    else if (n === 'sec-websocket-protocol') protocols = protocols === '' ? headers[i + 1]! : `${protocols}, ${headers[i + 1]!}`
    else if (n === 'sec-websocket-extensions') extensions = extensions === '' ? headers[i + 1]! : `${extensions}, ${headers[i + 1]!}`
  }
  return new UwsUpgrade(res, key, protocols, extensions, context, open)
}

/** Whether a Connection value lists the `close` option (case-insensitive, RFC 9112 §9.6). */
export function hasCloseOption (v: string): boolean {
  if (v.length === 5) return v.toLowerCase() === 'close'
  for (const token of v.split(',')) if (token.trim().toLowerCase() === 'close') return true
  return false
}

function constant (stages: readonly Stage[]): () => readonly Stage[] {
  return () => stages
}

/**
 * Feeds the client's body into `body`. Chunks are copied (uWS detaches them), large ones into pooled buffers that the
 * upstream client gives back once written (net/body-buffers.ts). The body counts the bytes against the
 * route's max_body (set by the limits stage before the first chunk can arrive): a chunked body has no length to check
 * up front, so the one that grows past it ends the exchange here (Exchange.bodyRefused). While it arrives, the
 * body_timeout sweep watches it.
 */
function feedBody (res: HttpResponse, ex: Exchange, down: UwsDownstream, body: RequestBody, timeouts: BodyTimeouts): void {
  const watch = timeouts.watch(ex, down)
  res.onData((ab, isLast) => {
    // uWS keeps delivering the rest of a body after an early answer (docs/uws.md §2).
    if (!down.wantsBody || body.destroyed) { watch.done(); return }
    watch.arrived()
    if (!body.accepts(ab.byteLength)) {
      watch.done()
      ex.bodyRefused('SWY_REQUEST_TOO_LARGE')
      return
    }
    if (ab.byteLength > 0 && !body.push(copyChunk(ab)) && !isLast) down.pauseBody()
    if (isLast) {
      watch.done()
      body.push(null)
    }
  })
}
