// Per-request state: everything a stage may read or set about one request, and the client side to answer on.
// The listener fills it from its own engine (uWS today); stages never see engine types.
import type { Readable } from 'node:stream'
import { SwitchyardError, type ErrorCode } from '../errors/index.ts'
import type { Target } from '../balancer/index.ts'
import { DONE, type Verdict } from './stage.ts'

/** The client side of one exchange, implemented by a listener engine. */
export interface Downstream {
  /** Starts the response; nothing is sent until the first write or end. `length` is the body size, or -1 (chunked). Headers are flat `[name, value, …]`. */
  start (status: number, headers: readonly (string | Uint8Array)[], length: number): void
  /** Writes a body chunk. False: stop producing until `onDrain` runs. */
  write (chunk: Uint8Array): boolean
  /** Ends a started response. */
  end (): void
  /** Cuts the connection so the client sees a truncated response (upstream failed mid-body). */
  abort (): void
  /** A whole local answer at once; `close` ends the connection after it. */
  reply (status: number, headers: readonly string[], body: string, close: boolean): void
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

/** What the route stage attached: enough for later stages and the access log. */
export interface RouteRef {
  readonly id: string
  readonly upstream: string
  /** Fields written on every response of the route (security_headers), flat `[name, value, …]`; built once. */
  readonly responseHeaders?: readonly string[]
}

/** Something a stage holds for the request's lifetime (a per-client in-flight slot); released once when it ends. */
export interface Hold {
  release (ex: Exchange): void
}

export class Exchange {
  // Request, copied from the engine before any await.
  readonly method: string
  /** Path (no query): as the client sent it, then normalised by the path stage before routing (guard/path.ts). */
  path: string
  /** Path sent to the backend (after strip_prefix). */
  forwardPath: string
  /** Method sent to the backend: the client's, or GET for a HEAD the cache fetches as GET (cache.convert_head). */
  forwardMethod: string
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
  /** The peer is in trusted_proxies. */
  trustedPeer: boolean
  readonly tls: boolean
  readonly startTime: number
  readonly body: Readable | null
  /** Most request-body bytes accepted (the route's limits.max_body); the listener counts a chunked body against it. */
  maxBody: number
  /** Released when the exchange ends (answered or aborted). */
  hold: Hold | null
  /** The client side. The cache stage swaps in a tee that stores what passes through (src/cache/tee.ts). */
  downstream: Downstream
  /**
   * Request headers sent to the backend (before hop-by-hop hygiene): the client's, unless the cache stage replaced
   * them (its own validators on a revalidation). Same layout as `headers`.
   */
  forwardHeaders: readonly string[]
  requestId: string
  // Set by stages.
  route: RouteRef | null
  target: Target | null
  /** Servers already tried by this request (retries), or null. */
  tried: Set<Target> | null
  attempts: number
  /** Sticky upstreams only: the session id in play (the request's cookie), or null (none yet; balanced normally). */
  session: string | null
  /** Sticky upstreams only: the server URL the session map held when routing, or null (unknown or not looked up). */
  sessionUrl: string | null
  /** Sticky upstreams only: what the response must do about the map (balancer/sticky-stage.ts flags). */
  sessionFlags: number
  /** What the cache made of the request (its X-Cache: HIT, MISS, STALE, BYPASS), or null on routes without cache. */
  cacheStatus: string | null
  // Outcome.
  status: number
  bytesSent: number
  errorCode: ErrorCode | null
  aborted: boolean
  finished: boolean
  /** Set by whoever has work in flight for this request (the upstream stage); run once on client abort. */
  onAbort: (() => void) | null
  /** Run once when the exchange ends, answered or aborted (the cache stage releases its fill lock here). */
  onFinish: (() => void) | null
  readonly #replies: LocalReplies
  readonly #onComplete: (ex: Exchange) => void
  #peerIp: string | null
  readonly #peer: PeerAddress | null
  #clientIp: string | null

  constructor (init: ExchangeInit) {
    this.method = init.method
    this.path = init.path
    this.forwardPath = init.path
    this.forwardMethod = init.method
    this.query = init.query
    this.host = init.host
    this.headers = init.headers
    this.contentLength = init.contentLength
    this.contentLengthCount = init.contentLengthCount
    this.chunked = init.chunked
    if (typeof init.peerIp === 'string') {
      this.#peerIp = init.peerIp
      this.#peer = null
    } else {
      this.#peerIp = null
      this.#peer = init.peerIp
    }
    this.#clientIp = null
    this.trustedPeer = false
    this.tls = init.tls
    this.startTime = init.startTime
    this.body = init.body
    this.maxBody = Infinity
    this.hold = null
    this.downstream = init.downstream
    this.forwardHeaders = init.headers
    this.requestId = ''
    this.route = null
    this.target = null
    this.tried = null
    this.attempts = 0
    this.session = null
    this.sessionUrl = null
    this.sessionFlags = 0
    this.cacheStatus = null
    this.status = 0
    this.bytesSent = 0
    this.errorCode = null
    this.aborted = false
    this.finished = false
    this.onAbort = null
    this.onFinish = null
    this.#replies = init.replies
    this.#onComplete = init.onComplete
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
   * The body went past `maxBody` while arriving (chunked: the length was not known up front). The upstream request is
   * cancelled first, so the backend sees an aborted request and never a complete one; then the client gets 413 and
   * the connection closes (the rest of the body is not read), or a cut connection when the response already started.
   */
  bodyTooLarge (): void {
    if (this.aborted || this.finished) return
    const cb = this.onAbort
    this.onAbort = null
    if (cb !== null) cb()
    this.body?.destroy()
    if (this.status === 0) {
      this.reject('SWY_REQUEST_TOO_LARGE', true)
    } else {
      this.errorCode = 'SWY_REQUEST_TOO_LARGE'
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
    this.aborted = true
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
    this.finished = true
    this.onAbort = null
    this.#finish()
    this.#onComplete(this)
  }
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
  startTime: number
  body: Readable | null
  downstream: Downstream
  replies: LocalReplies
  onComplete: (ex: Exchange) => void
}
