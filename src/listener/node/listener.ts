// The node engine's listener: node:http for plain HTTP/1.x, node:http2 for HTTP/2 (by ALPN beside HTTP/1.1 on TLS,
// by prior knowledge on a plain listener with h2c). It serves what uWS cannot: HTTP/1.0, pipelining, chunk extensions
// and trailers, HTTP/2 and gRPC. Each request becomes the same Exchange the uWS engine builds, and the same stages
// run; every node response write is in downstream.ts.
import { Buffer } from 'node:buffer'
import { createServer as createHttpServer, ServerResponse, type IncomingMessage } from 'node:http'
import type { Duplex, Readable } from 'node:stream'
import { createServer as createHttpsServer } from 'node:https'
import {
  constants, createSecureServer, createServer as createH2Server,
  type Http2Server, type Http2Session, type Http2SecureServer, type IncomingHttpHeaders, type SecureServerOptions, type ServerHttp2Stream
} from 'node:http2'
import { createServer as createNetServer, Server as NetServer, type Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { once } from 'node:events'
import { Exchange, RequestBody, runExchange, createRequestIds, type Stage } from '../../pipeline/index.ts'
import { listenerHttp2, type Config } from '../../config/index.ts'
import { createRedirect, createSniCheck } from '../entry-stages.ts'
import { drainWhenIdle, type ListenAddress, type Listener, type ListenerOptions, type ListenerState } from '../listener.ts'
import { createBodyTimeouts, type BodyTimeouts } from '../body-timeout.ts'
import { NodeDownstream } from './downstream.ts'
import { H2Downstream } from './h2-downstream.ts'
import { createNodeTls } from './tls.ts'
import { createWsServers, isWebSocketHandshake, NodeUpgrade, type NodeClientSocket, type NodeWsOptions, type WsServers } from './websocket.ts'
import { resetBudget, watchResets } from './reset-budget.ts'
import { takeProxyHeader } from './proxy-protocol.ts'

export interface NodeListenerOptions extends ListenerOptions {
  /** HTTP/2 settings and bounds (config `http2`). */
  readonly http2: Config['http2']
  /** limits.max_header_size and limits.max_headers: node answers 431 past them before a stage runs. */
  readonly maxHeaderSize: number
  readonly maxHeaders: number
  /**
   * Bind with SO_REUSEPORT, each worker its own socket (Node 22.12+). Otherwise node's cluster module shares one
   * socket the primary opened among the workers.
   */
  readonly reusePort: boolean
  /** WebSocket upgrades (HTTP/1.1 connections); absent: none are taken. */
  readonly websocket?: NodeWsOptions
}

/** How long a draining worker waits for clients to answer its 1001 close frames before it exits. */
const CLOSE_GRACE_MS = 500

/** The client preface of HTTP/2 with prior knowledge (RFC 9113 §3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')

export function createNodeListener (o: NodeListenerOptions): Listener {
  const state: ListenerState = { draining: false, trusted: o.trusted }
  const count = { inflight: 0 }
  const nextId = o.nextId ?? createRequestIds()
  const timeouts = createBodyTimeouts(o.bodyTimeout, o.clock)
  /** Every bound server (closed to stop accepting), every HTTP/2 session (closed on drain). */
  let bound: NetServer[] = []
  const sessions = new Set<Http2Session>()
  /** Open client WebSockets: a drain that times out closes them with 1001. */
  const open = new Set<NodeClientSocket>()
  const ws = o.websocket === undefined ? undefined : createWsServers(o.websocket)
  const onComplete = (ex: Exchange): void => {
    count.inflight--
    o.onComplete(ex)
  }
  const serving: Serving = { o, state, count, timeouts, onComplete }
  const handle: Handle = (stages, tls) => (req, res) => { serve(serving, stages(req.socket), tls, req, res) }
  const onStream: OnStream = (stages, tls) => (stream, headers, _flags, raw) => {
    serveStream(serving, stages(stream.session?.socket as Socket), tls, stream, headers, raw)
  }
  /**
   * An HTTP/1.1 request with Upgrade: node hands over the socket, so the answer is a ServerResponse made here, and the
   * connection closes after it unless it became a WebSocket. Any other upgrade is served as a plain request.
   */
  const upgrade: Upgrade = (stages, tls) => (req, socket, head) => {
    socket.on('error', () => {})
    const res = new ServerResponse(req)
    res.shouldKeepAlive = false
    res.assignSocket(socket as Socket)
    let upgraded = false
    res.once('finish', () => { if (!upgraded) socket.end() })
    const up = ws !== undefined && isWebSocketHandshake(req) ? new NodeUpgrade(req, socket, head, ws, open) : undefined
    if (up !== undefined) {
      up.onAccepted = () => {
        upgraded = true
        res.detachSocket(socket as Socket)
      }
    }
    serve(serving, stages(req.socket), tls, req, res, up)
  }

  return {
    state,
    get inflight () { return count.inflight },
    async listen (addresses) {
      const ports: number[] = []
      try {
        for (const [i, a] of addresses.entries()) {
          const server = withProxyHeader(serverFor(o, a, `listen[${i}]`, { handle, onStream, upgrade }, nextId, sessions), o.trusted)
          server.on('error', () => {})
          const failed = once(server, 'error')
          server.listen({ host: a.host, port: a.port, exclusive: o.reusePort, ...(o.reusePort ? { reusePort: true } : {}) })
          const r = await Promise.race([once(server, 'listening').then(() => null), failed.then(([e]) => e as Error)])
          if (r !== null) throw new Error(`cannot listen on ${a.host}:${a.port} (${(r as NodeJS.ErrnoException).code ?? r.message})`)
          bound.push(server)
          const addr = server.address()
          ports.push(typeof addr === 'object' && addr !== null ? addr.port : a.port)
        }
      } catch (err) {
        this.stopAccepting()
        throw err
      }
      return ports
    },
    stopAccepting () {
      // net's close, not http's: since Node 19 http.Server#close also closes idle keep-alive connections, whose
      // clients would then find them gone mid-request; a draining worker answers their next request with close instead.
      for (const s of bound) NetServer.prototype.close.call(s)
      bound = []
    },
    async drain (timeoutMs, minMs = 0) {
      state.draining = true
      this.stopAccepting()
      // HTTP/1.x: every answer from now on says Connection: close, and node closes after it; a connection idle until
      // the worker exits is closed then (as on uWS).
      // HTTP/2: GOAWAY (NO_ERROR, the last stream taken), the open streams finish, then the session closes.
      for (const s of sessions) closeSession(s)
      const left = await drainWhenIdle(() => count.inflight, timeoutMs, minMs)
      if (open.size === 0) return left
      // WebSockets still open at the deadline: Going Away (RFC 6455 §7.4.1), and a moment for the close frames.
      for (const s of [...open]) s.end(1001, 'going away')
      return await drainWhenIdle(() => count.inflight, CLOSE_GRACE_MS)
    }
  }
}

/**
 * The socket that accepts a listener's connections: it takes a PROXY v2 header off each one (proxy-protocol.ts), as
 * uWS does on its listeners, then hands it to `inner` (the HTTP, TLS or h2c server), which never listens itself.
 * node:http starts enforcing headersTimeout when its server is listening, so `inner` is told when this one is.
 */
function withProxyHeader (inner: NetServer, trusted: ListenerState['trusted']): NetServer {
  const mayName = (peer: string): boolean => trusted.size > 0 && trusted.has(peer)
  const front = createNetServer(acceptOptions(inner), (socket) => {
    takeProxyHeader(socket, mayName, (s) => { inner.emit('connection', s) })
  })
  front.once('listening', () => { inner.emit('listening') })
  return front
}

/** What a net.Server keeps of its options (node's own fields), for the sockets it accepts. */
interface AcceptFields { allowHalfOpen?: boolean, noDelay?: boolean, keepAlive?: boolean, keepAliveInitialDelay?: number, highWaterMark?: number }

/**
 * The socket options `server` would have given the connections it accepted, for a server that accepts them in its
 * place: node:http's allowHalfOpen (node:http, not the socket, decides what a client's FIN means), noDelay, keep-alive
 * probes and buffer sizes (node:http's highWaterMark bounds what pipelined requests may buffer).
 */
export function acceptOptions (server: NetServer): AcceptFields {
  const f = server as unknown as AcceptFields
  return {
    allowHalfOpen: f.allowHalfOpen === true,
    noDelay: f.noDelay === true,
    keepAlive: f.keepAlive === true,
    // Kept in seconds by net.Server, given in milliseconds.
    ...(f.keepAliveInitialDelay === undefined ? {} : { keepAliveInitialDelay: f.keepAliveInitialDelay * 1000 }),
    ...(f.highWaterMark === undefined ? {} : { highWaterMark: f.highWaterMark })
  }
}

/**
 * GOAWAY (NO_ERROR, naming the last stream taken), then the open streams finish and the session closes. A stream the
 * client opened meanwhile is above that id: refused unprocessed, which clients retry (RFC 9113 §6.8). nghttp2 ignores
 * new streams after any GOAWAY, so the two-step shutdown notice (a first GOAWAY with 2^31-1) would gain nothing.
 */
function closeSession (s: Http2Session): void {
  if (s.closed || s.destroyed) return
  s.close()
}

/** The stages for a connection (a TLS listener's SNI certificates choose them per connection). */
type StagesFor = (socket: Socket) => readonly Stage[]
type Handle = (stages: StagesFor, tls: boolean) => (req: IncomingMessage, res: ServerResponse) => void
type OnStream = (stages: StagesFor, tls: boolean) => (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]) => void
type Upgrade = (stages: StagesFor, tls: boolean) => (req: IncomingMessage, socket: Duplex, head: Buffer) => void
interface Handlers { readonly handle: Handle, readonly onStream: OnStream, readonly upgrade: Upgrade }

/** The server of one address: TLS (HTTP/2 and HTTP/1.1 by ALPN, or HTTP/1.x only), plain, or plain with h2c. */
function serverFor (o: NodeListenerOptions, a: ListenAddress, at: string, { handle, onStream, upgrade }: Handlers, nextId: () => string, sessions: Set<Http2Session>): NetServer {
  const h1 = {
    maxHeaderSize: o.maxHeaderSize,
    // Slow heads are cut as uWS cuts idle ones; slow bodies are limits.body_timeout's, not node's whole-request clock.
    headersTimeout: 10_000,
    requestTimeout: 0,
    keepAliveTimeout: 10_000,
    // How often node checks headersTimeout (default 30 s, which let a trickling head run three times its limit).
    connectionsCheckingInterval: 1000,
    // Pipelined requests wait their turn; past this many, node stops reading the connection until answers go out.
    highWaterMark: 64 * 1024
  }
  const h2 = h2Options(o)
  const resets = resetBudget(o.http2.reset_burst, o.http2.reset_rate)
  const onSession = (s: Http2Session): void => {
    sessions.add(s)
    s.on('error', () => {})
    watchResets(s, resets, o.clock)
    s.once('close', () => { sessions.delete(s) })
    // A session that did nothing for a minute goes (nginx's keepalive_timeout for HTTP/2 is 75 s).
    s.setTimeout(60_000, () => { closeSession(s) })
  }
  const plain: StagesFor = () => o.stages()

  if (a.tls !== undefined) {
    const t = createNodeTls(a.tls, at)
    const stages: StagesFor = (socket) => {
      const hosts = t.hostsOf(socket as TLSSocket)
      return hosts === null ? o.stages() : [createSniCheck(hosts, o.stages, nextId)]
    }
    const handler = handle(stages, true)
    const onUpgrade = upgrade(stages, true)
    if (listenerHttp2(a as Parameters<typeof listenerHttp2>[0])) {
      const server = createSecureServer({ ...t.options, ...h2, allowHTTP1: true, ...h1 } as SecureServerOptions)
      streamsOnly(server, onStream(stages, true))
      server.on('request', handler)
      server.on('upgrade', onUpgrade)
      server.on('clientError', clientError(nextId))
      server.on('session', onSession)
      quiet(server)
      return server as unknown as NetServer
    }
    const server = createHttpsServer({ ...t.options, ...h1 }, handler)
    server.on('upgrade', onUpgrade)
    server.on('clientError', clientError(nextId))
    return server
  }
  const r = a.redirect_https
  const stages = r === undefined
    ? plain
    : (() => {
        const redirect = createRedirect({ port: r.port, status: r.status, host: r.host, hosts: [...(o.routeHosts ?? []), ...(o.tlsNames?.(r.port) ?? [])], nextId })
        return () => [redirect]
      })()
  const handler = handle(stages, false)
  const http = createHttpServer(h1, handler)
  http.on('upgrade', upgrade(stages, false))
  http.on('clientError', clientError(nextId))
  if (a.h2c !== true) return http
  // h2c: one port for both. The first bytes say which: the HTTP/2 preface goes to node:http2, anything else to node:http.
  const h2c = createH2Server(h2)
  streamsOnly(h2c, onStream(stages, false))
  h2c.on('session', onSession)
  quiet(h2c)
  // Accepted as node:http accepts (half-open allowed, no Nagle); a connection that turns out to be HTTP/2 is closed
  // when its client ends it, as node:http2's own server does.
  const dispatch = createNetServer(acceptOptions(http), (socket) => {
    socket.on('error', () => {})
    socket.once('readable', function first () {
      const chunk = socket.read() as Buffer | null
      if (chunk === null) { socket.once('readable', first); return }
      socket.unshift(chunk)
      const n = Math.min(chunk.length, PREFACE.length)
      const isH2 = chunk.subarray(0, n).equals(PREFACE.subarray(0, n))
      if (isH2) {
        socket.allowHalfOpen = false
        h2c.emit('connection', socket)
      } else {
        http.emit('connection', socket)
      }
    })
  })
  // node:http enforces headersTimeout once its server is listening (it never listens itself here).
  dispatch.once('listening', () => { http.emit('listening') })
  return dispatch
}

/** Node's parser refused a request (before any Exchange): the answer has Switchyard's error body and the socket closes. */
function clientError (nextId: () => string) {
  const answer = (code: 'SWY_BAD_REQUEST' | 'SWY_HEADERS_TOO_LARGE' | 'SWY_REQUEST_TIMEOUT', status: string): string => {
    const id = nextId()
    const text = code === 'SWY_BAD_REQUEST' ? 'bad request' : code === 'SWY_HEADERS_TOO_LARGE' ? 'request header fields too large' : 'request timed out'
    const body = `{"error":"${code}","message":"${text}","request_id":"${id}"}\n`
    return `HTTP/1.1 ${status}\r\ncontent-type: application/json\r\nx-request-id: ${id}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`
  }
  return (err: NodeJS.ErrnoException, socket: Duplex): void => {
    if (!socket.writable || err.code === 'ECONNRESET') { socket.destroy(); return }
    const code = err.code ?? ''
    const reply = code === 'HPE_HEADER_OVERFLOW'
      ? answer('SWY_HEADERS_TOO_LARGE', '431 Request Header Fields Too Large')
      : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? answer('SWY_REQUEST_TIMEOUT', '408 Request Timeout') : answer('SWY_BAD_REQUEST', '400 Bad Request')
    socket.end(reply)
  }
}

/**
 * HTTP/2 streams go to `onStream` (the stream API), never through node's compatibility layer, which it sets up for
 * every stream as soon as a 'request' listener is added (its 'newListener' hook): that hook is removed first, so
 * 'request' on a TLS listener carries only HTTP/1.1 connections' requests. Checked after: one 'stream' listener.
 */
function streamsOnly (server: Http2Server | Http2SecureServer, handler: ReturnType<OnStream>): void {
  server.removeAllListeners('newListener')
  server.on('stream', handler)
  queueMicrotask(() => {
    if (server.listenerCount('stream') !== 1) throw new Error('node:http2 set up its compatibility layer: HTTP/2 streams would be served twice')
  })
}

/** HTTP/2 settings and defences from config `http2` and `limits` (README "HTTP/2"). */
function h2Options (o: NodeListenerOptions): Record<string, unknown> {
  const c = o.http2
  return {
    settings: {
      maxConcurrentStreams: c.max_concurrent_streams,
      initialWindowSize: c.initial_window_size,
      maxFrameSize: c.max_frame_size,
      // The header list as HTTP/2 counts it (RFC 9113 §6.5.2: name, value and 32 per field).
      maxHeaderListSize: o.maxHeaderSize + 32 * o.maxHeaders,
      enablePush: false
    },
    maxHeaderListPairs: o.maxHeaders + 8, // the pseudo-headers count too
    maxSessionMemory: Math.ceil(c.max_session_memory / (1024 * 1024)),
    maxSessionInvalidFrames: 100,
    maxSessionRejectedStreams: 100,
    // Node 20 ignores these two (nghttp2 keeps its 1000 and 33/s); reset-budget.ts enforces them on every version.
    streamResetBurst: c.reset_burst,
    streamResetRate: c.reset_rate,
    unknownProtocolTimeout: 10_000,
    // Frames go out when nghttp2 hands them over, not held for the peer's ACK (node:net's default keeps Nagle on).
    noDelay: true
  }
}

/** Errors of one client's session or stream are that client's: never a worker's. */
function quiet (server: Http2Server | Http2SecureServer): void {
  server.on('sessionError', () => {})
  server.on('streamError' as 'sessionError', () => {})
  server.on('tlsClientError' as 'sessionError', () => {})
}

/** What a request line (or HTTP/2's pseudo-headers) and its fields say, whichever protocol brought them. */
interface Taken {
  readonly method: string
  readonly url: string
  /** `[name, value, …]` as received (HTTP/1 names in their case; HTTP/2's pseudo-headers included). */
  readonly raw: readonly string[]
  readonly h2: boolean
  readonly protocol: string
  /** HTTP/2: the HEADERS frame did not end the stream, so a body follows (its length may be unknown). */
  readonly bodyFollows: boolean
}

interface Serving {
  readonly o: NodeListenerOptions
  readonly state: ListenerState
  readonly count: { inflight: number }
  readonly timeouts: BodyTimeouts
  readonly onComplete: (ex: Exchange) => void
}

/** An HTTP/1.x request (node:http, or a TLS listener's HTTP/1.1 connection). */
function serve (c: Serving, stages: readonly Stage[], tls: boolean, req: IncomingMessage, res: ServerResponse, upgrade?: NodeUpgrade): void {
  try {
    if (req.httpVersionMajor !== 1) {
      // An HTTP/1 parser that read another major version (`GET / HTTP/2.0`): RFC 9110 §15.6.6. (Taking it for an
      // HTTP/2 stream crashed the worker: npm run fuzz -- --engine node.)
      res.writeHead(505, { 'content-length': '0', connection: 'close' })
      res.end()
      return
    }
    const t: Taken = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      raw: req.rawHeaders,
      h2: false,
      protocol: req.httpVersionMinor === 0 ? 'http/1.0' : 'http/1.1',
      bodyFollows: false
    }
    const downstream = new NodeDownstream(req, res, c.state)
    const ok = take(c, stages, tls, t, downstream, req, upgrade)
    if (upgrade !== undefined && ok) {
      const accepted = upgrade.onAccepted
      upgrade.onAccepted = () => { downstream.upgraded(); accepted?.() }
    }
  } catch {
    // Only a bug gets here: answer rather than lose the worker.
    if (!res.headersSent) { res.writeHead(500, { 'content-length': '0' }); res.end() }
  }
}

/** An HTTP/2 stream, served with node:http2's stream API (h2-downstream.ts says why not its compatibility layer). */
function serveStream (c: Serving, stages: readonly Stage[], tls: boolean, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, raw: readonly string[]): void {
  // A stream's errors (a reset, the session's protocol error passed on to its streams) are its client's: 'close'
  // reports the end to the exchange. Unheard, one would end the worker.
  stream.on('error', () => {})
  try {
    const method = String(headers[':method'] ?? 'GET')
    const te = headers.te
    const t: Taken = {
      method,
      url: String(headers[':path'] ?? '/'),
      raw,
      h2: true,
      protocol: 'h2',
      bodyFollows: !stream.endAfterHeaders
    }
    const trailers = typeof te === 'string' && /(?:^|,)\s*trailers\s*(?:[;,]|$)/i.test(te)
    take(c, stages, tls, t, new H2Downstream(stream, method === 'HEAD', trailers), stream)
  } catch {
    if (!stream.destroyed && !stream.headersSent) stream.respond({ ':status': 500 }, { endStream: true })
  }
}

/** Copies one request into an Exchange and runs the stages; false when it could not (answered 500). */
function take (c: Serving, stages: readonly Stage[], tls: boolean, t: Taken, downstream: NodeDownstream | H2Downstream, source: Readable, upgrade?: NodeUpgrade): boolean {
  const { o } = c
  const h2 = t.h2
  const raw = t.raw
  const headers: string[] = []
  let host = ''
  let contentLength = -1
  let contentLengthCount = 0
  let chunked = false
  for (let i = 0; i < raw.length; i += 2) {
    const name = h2 ? raw[i]! : raw[i]!.toLowerCase()
    const value = utf8(raw[i + 1]!)
    if (name.charCodeAt(0) === 58 /* : */) {
      // :authority is the Host (RFC 9113 §8.3.1); the other pseudo-headers are the method and target, read apart.
      if (name === ':authority' && host === '') host = value
      continue
    }
    headers.push(name, value)
    if (name === 'content-length') {
      if (contentLengthCount++ === 0) contentLength = Number(value)
    } else if (name === 'transfer-encoding') {
      chunked = true
    } else if (name === 'host') {
      if (h2 && host !== '') continue
      host = value
    }
  }
  if (h2) {
    if (host !== '' && !headers.includes('host')) headers.push('host', host)
    // A body of unknown length: the HEADERS frame did not end the stream and no Content-Length came.
    if (contentLengthCount === 0 && t.bodyFollows) chunked = true
  }
  let url = utf8(t.url)
  // Absolute form (RFC 9112 §3.2.2, what a client talking to a forward proxy sends): its authority is the Host, and
  // the backend gets the origin form. uWS 20.57 answers 505 to it, 20.30 nothing.
  if (!h2 && url.charCodeAt(0) !== 47 /* / */) {
    const m = /^https?:\/\/([^/?#]*)(.*)$/i.exec(url)
    if (m !== null) {
      host = m[1]!
      url = m[2]!.startsWith('/') ? m[2]! : `/${m[2]!}`
      for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'host') headers[i + 1] = host
    }
  }
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  const query = q < 0 ? '' : url.slice(q + 1)
  let ex: Exchange | null = null
  try {
    c.count.inflight++
    const body = chunked || contentLength > 0 ? new RequestBody(o.bodyHighWater, () => { downstream.resumeBody() }) : null
    ex = new Exchange({
      method: t.method, path, query, host, headers, contentLength, contentLengthCount, chunked,
      peerIp: downstream,
      tls,
      protocol: t.protocol,
      startTime: o.clock(),
      body,
      ...(upgrade === undefined ? {} : { upgrade }),
      downstream,
      replies: o.replies,
      onComplete: c.onComplete
    })
    downstream.attach(ex)
    if (o.eagerPeer) void ex.peerIp
    if (body !== null) feedBody(source, ex, downstream, body, c.timeouts)
    runExchange(stages, ex)
    return true
  } catch (err) {
    if (ex !== null) { ex.fail(err); return true }
    c.count.inflight--
    throw err
  }
}

const NON_ASCII = /[\x80-\xff]/

/**
 * node reads field values and the target as latin1 (a character per byte); uWS hands them over as UTF-8, and the
 * rest of the data path (the upstream client writes UTF-8) expects that. So a value with bytes over 0x7f is read
 * again as UTF-8: `café` reaches the backend as the client sent it, not encoded twice.
 */
function utf8 (s: string): string {
  return NON_ASCII.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s
}

/** Feeds the client's body into `body`, pausing the client when the backend is slower (as uws/listener.ts does). */
function feedBody (source: Readable, ex: Exchange, down: NodeDownstream | H2Downstream, body: RequestBody, timeouts: BodyTimeouts): void {
  const watch = timeouts.watch(ex, down)
  source.on('data', (chunk: Buffer) => {
    if (!down.wantsBody || body.destroyed) { watch.done(); return }
    watch.arrived()
    if (!body.accepts(chunk.length)) {
      watch.done()
      ex.bodyRefused('SWY_REQUEST_TOO_LARGE')
      return
    }
    if (!body.push(chunk)) down.pauseBody()
  })
  source.on('end', () => {
    watch.done()
    if (down.wantsBody && !body.destroyed) body.push(null)
  })
}
