// The upstream stage: sends the request through the chosen server's pool (our own HTTP/1.1 client: pool.ts,
// connection.ts, response-parser.ts) and streams the answer back, with backpressure both ways, cancellation on
// client abort, and retries before any response byte.
import { Buffer } from 'node:buffer'
import { UpstreamError } from '../errors/index.ts'
import type { Strategy, Target } from '../balancer/index.ts'
import type { ServerStates } from '../health/index.ts'
import { DONE, type EncodedHead, type Exchange, type Stage } from '../pipeline/index.ts'
import { buildRequestHeaders, wireString, type RequestHeaderOptions, type ResponseHead } from './hop-headers.ts'
import { classifyUpstreamError, encodeRequestHead, IDEMPOTENT_METHODS, CHUNKED, LENGTH, NO_BODY, type Call, type ServerPool, type ResponseHandler, type UpstreamFailure, type UpstreamRequest } from './client/index.ts'
import { statusLine } from '../response/index.ts'
import { performance } from 'node:perf_hooks'

/** Where the upstream stage reports failed attempts and retries (metrics/); absent when metrics are off. */
export interface UpstreamMeter {
  failure (server: Target, code: string): void
  retry (server: Target): void
}

/** One upstream's live objects, built once per config; `P`: what reaches one server (an HTTP/1.1 pool, an HTTP/2 session). */
export interface UpstreamRuntime<P = ServerPool> {
  readonly name: string
  readonly targets: readonly Target[]
  readonly pools: readonly P[]
  /** `host[:port]` of each server, for preserve_host: false. */
  readonly hosts: readonly string[]
  readonly strategy: Strategy
  readonly retries: number
  /** Passive detection and active-check verdicts: what sets each target's `healthy`. */
  readonly states: ServerStates
  readonly meter?: UpstreamMeter
}

export interface ForwardOptions<P = ServerPool> {
  readonly upstream: UpstreamRuntime<P>
  readonly requestHeaders: RequestHeaderOptions
  /**
   * The client's response head from the backend's raw headers. Sticky upstreams wrap the plain filter (which ignores
   * `ex`) to learn Set-Cookie and append their own cookie: chosen at build time, so other upstreams pay nothing.
   */
  readonly filterResponse: (raw: readonly Buffer[], requestId: string, ex: Exchange) => ResponseHead
  /**
   * Run when a request gives up on a server it could not connect to (refused or connect timeout) with no retry left
   * or allowed: sticky sessions move off it. Only on that error path.
   */
  readonly onUnreachable?: (ex: Exchange, target: Target) => void
}

/**
 * A failed attempt may be sent to another server: nothing of a body can have reached this one, and the method is
 * idempotent (RFC 9110 §9.2.2), with retries left. The same rule for every upstream protocol.
 */
export function mayRetry (ex: Exchange, retries: number): boolean {
  return ex.body === null && IDEMPOTENT_METHODS.has(ex.forwardMethod) && ex.attempts <= retries
}

export function createForward (o: ForwardOptions): Stage {
  return {
    name: 'upstream',
    run (ex) {
      // Answers arrive through the handler; the runner is done with this request.
      send(ex, ex.target!, o)
      return DONE
    }
  }
}

function send (ex: Exchange, target: Target, o: ForwardOptions): void {
  const u = o.upstream
  ex.target = target
  ex.attempts++
  target.inflight++
  const handler = new ProxyHandler(ex, target, o)
  const q = ex.query
  const body = ex.body
  const method = ex.forwardMethod
  let req: UpstreamRequest
  try {
    const headers = buildRequestHeaders(ex, u.hosts[target.index]!, o.requestHeaders)
    const framing = body === null ? NO_BODY : ex.contentLength >= 0 ? LENGTH : CHUNKED
    req = {
      head: encodeRequestHead(method, wireString(q === '' ? ex.forwardPath : `${ex.forwardPath}?${q}`), headers, framing),
      isHead: method === 'HEAD',
      body,
      chunked: framing === CHUNKED,
      length: ex.contentLength,
      // A reused connection the server had closed is tried once more on a new one, as undici did (RFC 9112 §9.3.1).
      retryStale: body === null && IDEMPOTENT_METHODS.has(method)
    }
  } catch (err) {
    // What the client sent cannot go on the wire (a control byte in a value): nothing was sent.
    handler.onError(err as UpstreamFailure, false)
    return
  }
  handler.call = u.pools[target.index]!.request(req, handler)
}

/**
 * Receives one attempt's answer from the pool and streams it to the client: the head through the route's response
 * filter, body chunks with backpressure (a full client pauses the upstream socket until onDrain), errors as 502/504
 * before any byte went out, a cut after, and a retry on another server when that is safe.
 */
class ProxyHandler implements ResponseHandler {
  /** The pool's handle on this attempt: resumes reading, or cancels when the client goes away. */
  call: Call | null = null
  readonly #ex: Exchange
  readonly #target: Target
  readonly #o: ForwardOptions
  #started = false
  #done = false
  /** When this attempt was handed to the pool (performance.now()), for the time to first byte. */
  readonly #sentAt = performance.now()

  constructor (ex: Exchange, target: Target, o: ForwardOptions) {
    this.#ex = ex
    this.#target = target
    this.#o = o
    ex.onAbort = () => { this.#cancel() }
  }

  #cancel (): void {
    if (this.#done) return
    this.#finish()
    this.call?.cancel()
  }

  /** The response head arrived: passive health hears of it, and the client's head is filtered from it (undefined: the client left). */
  #head (statusCode: number, rawHeaders: Buffer[]): ResponseHead | undefined {
    const ex = this.#ex
    this.#o.upstream.states.response(this.#target, statusCode)
    ex.upstreamTtfb = performance.now() - this.#sentAt
    if (ex.aborted) return undefined
    this.#started = true
    const head = this.#o.filterResponse(rawHeaders, ex.requestId, ex)
    ex.status = statusCode
    return head
  }

  onHead (statusCode: number, rawHeaders: Buffer[]): void {
    const head = this.#head(statusCode, rawHeaders)
    if (head === undefined) return
    const d = this.#ex.downstream
    const call = this.call!
    d.onDrain = () => { call.resume() }
    d.start(statusCode, head.headers, head.length)
  }

  /**
   * The whole answer is here (length-framed, in one read): an engine with `send` gets it in one piece, the head as one
   * block of bytes (the cache-hit path: one writeStatus instead of a writeHeader per field, and one end); others get
   * start + write, and end from onEnd.
   */
  onWhole (statusCode: number, rawHeaders: Buffer[], body: Buffer): void {
    const head = this.#head(statusCode, rawHeaders)
    if (head === undefined) return
    const ex = this.#ex
    const d = ex.downstream
    ex.bytesSent += body.length
    const encoded = d.send === undefined ? undefined : encodeHead(statusCode, head.headers)
    if (encoded === undefined) {
      d.start(statusCode, head.headers, head.length)
      d.write(body)
      return
    }
    d.send!(encoded, encoded.extra, body)
  }

  onBody (chunk: Buffer): boolean {
    const ex = this.#ex
    if (ex.aborted) return false
    ex.bytesSent += chunk.length
    return ex.downstream.write(chunk)
  }

  onEnd (): void {
    this.#finish()
    const ex = this.#ex
    if (!ex.aborted) ex.downstream.end()
  }

  onError (err: UpstreamFailure, answered: boolean): void {
    if (this.#done) return
    this.#finish()
    const ex = this.#ex
    if (ex.aborted) return
    const c = classifyUpstreamError(err)
    // What the client sent (a bad header, a short body) says nothing about the server.
    if (c.code !== 'SWY_BAD_REQUEST') {
      this.#o.upstream.states.failure(this.#target, err.code ?? c.code)
      this.#o.upstream.meter?.failure(this.#target, c.code)
    }
    if (!this.#started && !answered && c.retryable && mayRetry(this.#ex, this.#o.upstream.retries)) {
      const tried = ex.tried ?? (ex.tried = new Set())
      tried.add(this.#target)
      const next = this.#o.upstream.strategy.pick(ex, tried)
      if (next !== undefined) {
        this.#o.upstream.meter?.retry(this.#target)
        send(ex, next, this.#o)
        return
      }
    }
    if (!this.#started && c.retryable && c.code !== 'SWY_UPSTREAM_RESET') this.#o.onUnreachable?.(ex, this.#target)
    // Once a body byte went out the client can only see a cut; before that it still gets an honest 502/504.
    ex.fail(new UpstreamError(c.code, this.#target.url, c.retryable, err), this.#started && ex.bytesSent > 0)
  }


  #finish (): void {
    if (this.#done) return
    this.#done = true
    this.#target.inflight--
  }
}

/**
 * The filtered head as one block: `200 OK` and every field but the last as latin1 bytes (field values are the bytes
 * the backend sent), the last field apart as `extra` (the engine writes it with the route's own fields). Undefined
 * when the last field is not plain strings (a backend's own x-request-id): the caller takes the general path.
 */
function encodeHead (status: number, h: readonly (string | Uint8Array)[]): EncodedHead & { extra: string[] } | undefined {
  const n = h.length - 2
  const lastName = h[n]
  const lastValue = h[n + 1]
  if (typeof lastName !== 'string' || typeof lastValue !== 'string') return undefined
  const line = statusLine(status)
  let size = line.length
  for (let i = 0; i < n; i++) size += (i % 2 === 0 ? 4 : 0) + h[i]!.length // CRLF before a name, ": " after it
  const bytes = Buffer.allocUnsafe(size)
  let at = bytes.write(line, 0, 'latin1')
  for (let i = 0; i < n; i += 2) {
    bytes[at++] = 13
    bytes[at++] = 10
    at = put(bytes, h[i]!, at)
    bytes[at++] = 58
    bytes[at++] = 32
    at = put(bytes, h[i + 1]!, at)
  }
  return { status, bytes, fields: h.slice(0, n), extra: [lastName, lastValue] }
}

function put (into: Buffer, v: string | Uint8Array, at: number): number {
  if (typeof v === 'string') return at + into.write(v, at, 'latin1')
  into.set(v, at)
  return at + v.length
}
