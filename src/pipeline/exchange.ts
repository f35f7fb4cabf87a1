// Per-request state: everything a stage may read or set about one request, and the client side to answer on.
// The listener fills it from its own engine (uWS today); stages never see engine types.
import { SwitchyardError, type ErrorCode } from '../errors/index.ts'
import type { Target } from './target.ts'
import type { RequestBody } from './request-body.ts'
import { DONE, type Verdict } from './verdict.ts'
import type { ClientUpgrade } from './upgrade.ts'

/**
 * One small step of the data path. It returns NEXT to pass the request on, or answers through the exchange and returns
 * DONE; a promise only when it really waits. Declared beside Exchange because the two refer to each other (a route
 * carries its stages).
 */
export interface Stage {
  /** Shows up in logs and metric labels. */
  readonly name: string
  run (ex: Exchange): Verdict | Promise<Verdict>
}

/** The client side of one exchange, implemented by a listener engine. */
export interface Downstream {
  /** Starts the response; nothing is sent until the first write or end. `length` is the body size, or -1 (chunked). Headers are flat `[name, value, …]`. */
  start (status: number, headers: readonly (string | Uint8Array)[], length: number): void
  /** Writes a body chunk, lent for this call only (copy what is kept). False: stop producing until `onDrain` runs. */
  write (chunk: Uint8Array): boolean
  /** Ends a started response. */
  end (): void
  /** Cuts the connection so the client sees a truncated response (upstream failed mid-body). */
  abort (): void
  /** A whole local answer at once; `close` ends the connection after it. */
  reply (status: number, headers: readonly string[], body: string, close: boolean): void
  /**
   * Optional: trailer fields (flat `[name, value, …]`) sent after the body when `end` is called; engines that cannot
   * send trailers leave it out and they are dropped (a gRPC answer needs them: HTTP/2 engines have it).
   */
  trailers? (fields: readonly string[]): void
  /** Run when the client can take more after `write` returned false. */
  onDrain: (() => void) | null
  /**
   * Optional: a whole answer whose head was encoded ahead (a cache entry's), the same as start + write + end with
   * `head.fields` and `extra`, in fewer calls into the engine. Callers go through `sendWhole`.
   */
  send? (head: EncodedHead, extra: readonly string[], body: Uint8Array): void
}

/** A response head encoded once and sent many times (a cache entry's). */
export interface EncodedHead {
  readonly status: number
  /** `200 OK\r\nname: value\r\n…name: value` as latin1 bytes: the status line and field lines, no final CRLF. */
  readonly bytes: Uint8Array
  /** The same fields, flat `[name, value, …]`, for engines that write them one by one. */
  readonly fields: readonly (string | Uint8Array)[]
}

/**
 * Sends a whole answer: `head`, then `extra` (flat `[name, value, …]`, ASCII without CR or LF: they are written as
 * lines of one field on engines with `send`), then `body`.
 */
export function sendWhole (d: Downstream, head: EncodedHead, extra: readonly string[], body: Uint8Array): void {
  if (d.send !== undefined) d.send(head, extra, body)
  else sendByParts(d, head, extra, body)
}

/** The same answer through start + write + end: for engines without `send`, and the cases `send` leaves to them. */
export function sendByParts (d: Downstream, head: EncodedHead, extra: readonly string[], body: Uint8Array): void {
  d.start(head.status, [...head.fields, ...extra], body.length)
  if (body.length > 0) d.write(body)
  d.end()
}

/**
 * Where the TCP peer's address comes from when nobody gave it up front. Reading it from uWS costs about 15% of a
 * bare hit's throughput (an ArrayBuffer per call; measured with a bare uWS app, wrk -c50: 107k → 92k req/s), so the listener
 * hands the engine over and the address is read the first time a stage asks. The engine answers '' once the
 * response is over (it cannot be read then); the listener reads it up front when the access log will want it.
 */
export interface PeerAddress {
  remoteAddress (): string
}

/** Builds the local error answers; see response/local-reply.ts. */
export interface LocalReplies {
  /** `headers`: extra fields beside the standard ones, flat `[name, value, …]` (e.g. Retry-After on a 429). */
  reply (ex: Exchange, code: ErrorCode, close: boolean, headers?: readonly string[]): void
  /** Logs a fault with its cause, once, beside the request id. */
  fault (ex: Exchange, err: unknown): void
}

/** What the route stage attached: enough for later stages and the access log. Built once per route. */
export interface RouteRef {
  readonly id: string
  readonly upstream: string
  /** Fields written on every response of the route (security_headers), flat `[name, value, …]`; built once. */
  readonly responseHeaders?: readonly string[]
  /** The route's own stages, in the order a request meets them (see runAfter for work that continues them). */
  readonly stages: readonly Stage[]
}

/** Something a stage holds for the request's lifetime (a per-client in-flight slot); released once when it ends. */
export interface Hold {
  release (ex: Exchange): void
}

/** A sticky session in play: what balancer/sticky-stage.ts found for the request, and what its response must do. */
export interface StickySession {
  /** The session id (the request's cookie). */
  readonly id: string
  /** The server URL the session map held when routing, or null (unknown, or not looked up). */
  url: string | null
  /** What the response must do about the map (balancer/sticky-stage.ts: RENEW, FALLBACK). */
  flags: number
}

/**
 * One request and its answer. Each mutable field has one owner, named beside it: only that concept writes it (others
 * may read). The request fields are the engine's copy and never change, so every request gets the same hidden class.
 */
export class Exchange {
  // The request, copied by the listener's engine before any await; nobody changes it.
  readonly method: string
  readonly query: string
  /** Host header as sent (with port). */
  readonly host: string
  /** Flat `[name, value, …]`, names lower-case, in wire order, duplicates kept. */
  readonly headers: readonly string[]
  /** Content-Length, or -1 when absent. */
  readonly contentLength: number
  /** How many Content-Length headers came. More than one is refused. */
  readonly contentLengthCount: number
  /** Transfer-Encoding was present (uWS treats any value as chunked). */
  readonly chunked: boolean
  readonly tls: boolean
  /** What the client spoke, as ALPN names it: `http/1.1` (uWS: always), `http/1.0` or `h2` (node engine). */
  readonly protocol: string
  readonly startTime: number
  /** The request body as the engine feeds it, or null; its byte limit is set by guard/limits.ts. */
  readonly body: RequestBody | null
  /** A WebSocket handshake (GET with Upgrade: websocket, as the engine recognised it), or null for a plain request. */
  readonly upgrade: ClientUpgrade | null

  /** Written by guard/path.ts (normalised before routing); as the client sent it until then. */
  path: string
  /** Written by guard/guard.ts (or a listener's entry stage, which answers before the guard runs). */
  requestId: string
  /** Written by guard/guard.ts: the peer is in trusted_proxies. */
  trustedPeer: boolean
  /** Written by guard/client-caps.ts: released when the exchange ends (answered or aborted). */
  hold: Hold | null
  /** Written by the route stage (router/). */
  route: RouteRef | null
  /** Written by the route stage (router/): the path sent to the backend (after strip_prefix). */
  forwardPath: string
  /** Written by cache/: the method sent to the backend, GET for a HEAD it fetches as GET (cache.convert_head). */
  forwardMethod: string
  /**
   * Written by cache/: request headers sent to the backend (before hop-by-hop hygiene), the client's unless the cache
   * revalidates with its own validators. Same layout as `headers`.
   */
  forwardHeaders: readonly string[]
  /** Written by cache/: what it made of the request (its X-Cache: HIT, MISS, STALE, BYPASS), or null on routes without cache. */
  cacheStatus: string | null
  /**
   * The client side: the engine's, which cache/ alone may wrap (a tee that stores what passes through, or a
   * downstream that invalidates after an unsafe method).
   */
  downstream: Downstream
  /** Written by balancer/ (the balance or sticky stage); upstream/ moves it when it retries elsewhere. */
  target: Target | null
  /** Written by balancer/sticky-stage.ts on sticky upstreams: the session in play, or null (none; balanced normally). */
  sticky: StickySession | null
  /** Written by upstream/: servers already tried by this request (retries), or null. */
  tried: Set<Target> | null
  /** Written by upstream/: requests sent for this exchange. */
  attempts: number
  /** Written by upstream/: ms from sending the last attempt to its response head, or -1 (no head came). */
  upstreamTtfb: number
  /** Written by upstream/ (hop-headers.ts): the W3C traceparent sent to the backend, or '' (none was sent). */
  traceparent: string
  /** Written by upstream/ (whoever has work in flight for this request); run once on client abort. */
  onAbort: (() => void) | null
  /** Written by cache/: run once when the exchange ends, answered or aborted (the cache releases its fill lock here). */
  onFinish: (() => void) | null
  // The outcome, written by whoever answers (reject/fail here, the upstream stage, the cache), for the access log.
  status: number
  bytesSent: number
  errorCode: ErrorCode | null
  /** Written by websocket/: what the relayed WebSocket carried, for the access line at its close; null otherwise. */
  ws: WsCounts | null
  readonly #replies: LocalReplies
  readonly #onComplete: (ex: Exchange) => void
  #peerIp: string | null
  readonly #peer: PeerAddress | null
  #clientIp: string | null
  #aborted: boolean
  #finished: boolean

  constructor (init: ExchangeInit) {
    this.method = init.method
    this.query = init.query
    this.host = init.host
    this.headers = init.headers
    this.contentLength = init.contentLength
    this.contentLengthCount = init.contentLengthCount
    this.chunked = init.chunked
    this.tls = init.tls
    this.protocol = init.protocol ?? 'http/1.1'
    this.startTime = init.startTime
    this.body = init.body
    this.upgrade = init.upgrade ?? null
    this.path = init.path
    this.requestId = ''
    this.trustedPeer = false
    this.hold = null
    this.route = null
    this.forwardPath = init.path
    this.forwardMethod = init.method
    this.forwardHeaders = init.headers
    this.cacheStatus = null
    this.downstream = init.downstream
    this.target = null
    this.sticky = null
    this.tried = null
    this.attempts = 0
    this.upstreamTtfb = -1
    this.traceparent = ''
    this.onAbort = null
    this.onFinish = null
    this.status = 0
    this.bytesSent = 0
    this.errorCode = null
    this.ws = null
    this.#replies = init.replies
    this.#onComplete = init.onComplete
    if (typeof init.peerIp === 'string') {
      this.#peerIp = init.peerIp
      this.#peer = null
    } else {
      this.#peerIp = null
      this.#peer = init.peerIp
    }
    this.#clientIp = null
    this.#aborted = false
    this.#finished = false
  }

  /** The client went away before the answer was complete (the engine reports it through clientAborted). */
  get aborted (): boolean { return this.#aborted }
  /** The answer was fully handed to the socket (the engine reports it through completed). */
  get finished (): boolean { return this.#finished }

  /**
   * A copy of this request for work nobody waits on (the cache's background refresh): the same request (as GET, no
   * body), client, identity and route, answering into `downstream`. Run it with runAfter.
   */
  background (downstream: Downstream, replies: LocalReplies): Exchange {
    const bg = new Exchange({
      method: 'GET',
      path: this.path,
      query: this.query,
      host: this.host,
      headers: this.headers as string[],
      contentLength: -1,
      contentLengthCount: 0,
      chunked: false,
      peerIp: this.peerIp,
      tls: this.tls,
      protocol: this.protocol,
      startTime: this.startTime,
      body: null,
      downstream,
      replies,
      onComplete: () => {}
    })
    bg.requestId = this.requestId
    bg.clientIp = this.clientIp
    bg.trustedPeer = this.trustedPeer
    bg.forwardPath = this.forwardPath
    bg.route = this.route
    return bg
  }

  /** Address of the TCP peer, normalised; read from the engine on first use (see PeerAddress). */
  get peerIp (): string {
    if (this.#peerIp === null) this.#peerIp = this.#peer === null ? '' : this.#peer.remoteAddress()
    return this.#peerIp
  }

  /** The client: the peer, or from X-Forwarded-For when the peer is a trusted proxy. */
  get clientIp (): string {
    return this.#clientIp ?? this.peerIp
  }

  set clientIp (ip: string) {
    this.#clientIp = ip
  }

  /** First value of a request header; `name` must be lower-case. */
  header (name: string): string | undefined {
    const h = this.headers
    for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1]
    return undefined
  }

  /** A request cookie's value. */
  cookie (name: string): string | undefined {
    const h = this.headers
    for (let i = 0; i < h.length; i += 2) {
      if (h[i] !== 'cookie') continue
      const v = h[i + 1]!
      let at = 0
      while (at < v.length) {
        while (v.charCodeAt(at) === 32) at++
        const eq = v.indexOf('=', at)
        if (eq < 0) break
        let end = v.indexOf(';', eq)
        if (end < 0) end = v.length
        if (eq - at === name.length && v.startsWith(name, at)) return v.slice(eq + 1, end).trim()
        at = end + 1
      }
    }
    return undefined
  }

  /** Answers with the code's local reply and stops the pipeline. */
  reject (code: ErrorCode, close = false, headers?: readonly string[]): Verdict {
    if (!this.aborted && !this.finished) {
      this.errorCode = code
      this.#replies.reply(this, code, close, headers)
    }
    return DONE
  }

  /** A fault: logged with its cause; the client gets the code's reply if nothing was sent yet, else a cut connection. */
  fail (err: unknown, started = false): void {
    this.#replies.fault(this, err)
    if (this.aborted || this.finished) return
    if (started) {
      this.errorCode = err instanceof SwitchyardError ? err.code : 'SWY_INTERNAL'
      this.downstream.abort()
      return
    }
    this.reject(err instanceof SwitchyardError ? err.code : 'SWY_INTERNAL')
  }

  /**
   * The request body cannot go on: it went past its limit while arriving (chunked: the length was not known up
   * front), or it stalled past limits.body_timeout. The upstream request is cancelled first, so the backend sees an
   * aborted request and never a complete one; then the client gets the code's answer and the connection closes (the
   * rest of the body is not read), or a cut connection when the response already started.
   */
  bodyRefused (code: 'SWY_REQUEST_TOO_LARGE' | 'SWY_REQUEST_TIMEOUT'): void {
    if (this.aborted || this.finished) return
    const cb = this.onAbort
    this.onAbort = null
    if (cb !== null) cb()
    this.body?.destroy()
    if (this.status === 0) {
      this.reject(code, true)
    } else {
      this.errorCode = code
      this.downstream.abort()
    }
  }

  #finish (): void {
    const h = this.hold
    if (h !== null) {
      this.hold = null
      h.release(this)
    }
    const f = this.onFinish
    if (f === null) return
    this.onFinish = null
    f()
  }

  /** The engine reports the client went away. */
  clientAborted (): void {
    if (this.finished || this.aborted) return
    this.#aborted = true
    const cb = this.onAbort
    this.onAbort = null
    if (cb !== null) cb()
    this.body?.destroy()
    this.#finish()
    this.#onComplete(this)
  }

  /** The engine reports the response fully handed to the socket (or cut). */
  completed (): void {
    if (this.finished || this.aborted) return
    this.#finished = true
    this.onAbort = null
    this.#finish()
    this.#onComplete(this)
  }
}

/** One relayed WebSocket's traffic: messages and bytes each way, and the close code the client got or sent. */
export interface WsCounts {
  messagesIn: number
  bytesIn: number
  messagesOut: number
  bytesOut: number
  /** The close code as the client saw it (1005: none, 1006: cut); 0 while open. */
  code: number
}

export interface ExchangeInit {
  method: string
  path: string
  query: string
  host: string
  headers: string[]
  contentLength: number
  contentLengthCount: number
  chunked: boolean
  /** The peer's address, or where to read it when first needed. */
  peerIp: string | PeerAddress
  tls: boolean
  /** Default `http/1.1`. */
  protocol?: string
  startTime: number
  body: RequestBody | null
  /** Set when the request is a WebSocket handshake. */
  upgrade?: ClientUpgrade
  downstream: Downstream
  replies: LocalReplies
  onComplete: (ex: Exchange) => void
}
