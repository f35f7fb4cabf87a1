// The upstream stage: sends the request through the chosen server's pool and streams the answer back,
// with backpressure both ways, cancellation on client abort, and retries before any response byte.
import type { Dispatcher, Pool } from 'undici'
import { UpstreamError } from '../errors/index.ts'
import type { Strategy, Target } from '../balancer/index.ts'
import type { ServerStates } from '../health/index.ts'
import { DONE, type Exchange, type Stage } from '../pipeline/index.ts'
import { buildRequestHeaders, wireString, type RequestHeaderOptions, type ResponseHead } from './hop-headers.ts'
import { classifyUpstreamError, IDEMPOTENT_METHODS } from './errors.ts'

/** One upstream's live objects, built once per config. */
export interface UpstreamRuntime {
  readonly name: string
  readonly targets: readonly Target[]
  readonly pools: readonly Pool[]
  /** `host[:port]` of each server, for preserve_host: false. */
  readonly hosts: readonly string[]
  readonly strategy: Strategy
  readonly retries: number
  /** Passive detection and active-check verdicts: what sets each target's `healthy`. */
  readonly states: ServerStates
}

export interface ForwardOptions {
  readonly upstream: UpstreamRuntime
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

/** Picks the server. A separate stage so that health can sit in front of the strategy; sticky upstreams replace it. */
export function createBalance (upstream: UpstreamRuntime): Stage {
  return {
    name: 'balance',
    run (ex) {
      const t = upstream.strategy.pick(ex)
      if (t === undefined) return ex.reject('SWY_NO_HEALTHY_UPSTREAM')
      ex.target = t
      return 0
    }
  }
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
  try {
    u.pools[target.index]!.dispatch({
      path: wireString(q === '' ? ex.forwardPath : `${ex.forwardPath}?${q}`),
      method: ex.forwardMethod as Dispatcher.HttpMethod,
      headers: buildRequestHeaders(ex, u.hosts[target.index]!, o.requestHeaders),
      body: ex.body,
      blocking: false
    }, handler)
  } catch (err) {
    // undici validates synchronously (path, header values); that is what the client sent.
    handler.onError(err as Error)
  }
}

/**
 * undici's native handler shape (onConnect/onHeaders/onData/onComplete/onError): the newer controller API is
 * wrapped by undici itself with a header parse per response, which this path avoids: raw header Buffers go to uWS
 * as they are (bench/micro/upstream-response-headers.bench.ts: 1.14x on header handling alone).
 */
class ProxyHandler implements Dispatcher.DispatchHandler {
  readonly #ex: Exchange
  readonly #target: Target
  readonly #o: ForwardOptions
  #abort: ((err?: Error) => void) | null = null
  #cancelled = false
  #started = false
  #done = false

  constructor (ex: Exchange, target: Target, o: ForwardOptions) {
    this.#ex = ex
    this.#target = target
    this.#o = o
    ex.onAbort = () => { this.#cancel() }
  }

  #cancel (): void {
    this.#cancelled = true
    if (this.#abort !== null) this.#abort()
  }

  onConnect (abort: (err?: Error) => void): void {
    this.#abort = abort
    if (this.#cancelled) abort()
  }

  onHeaders (statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true // 1xx interim answers are not relayed
    const ex = this.#ex
    this.#o.upstream.states.response(this.#target, statusCode)
    if (ex.aborted) return false
    this.#started = true
    const head = this.#o.filterResponse(rawHeaders, ex.requestId, ex)
    ex.status = statusCode
    ex.downstream.onDrain = resume
    ex.downstream.start(statusCode, head.headers, head.length)
    return true
  }

  onData (chunk: Buffer): boolean {
    const ex = this.#ex
    if (ex.aborted) return false
    ex.bytesSent += chunk.length
    return ex.downstream.write(chunk)
  }

  onComplete (): void {
    this.#finish()
    const ex = this.#ex
    if (!ex.aborted) ex.downstream.end()
  }

  onError (err: Error): void {
    if (this.#done) return
    this.#finish()
    const ex = this.#ex
    if (ex.aborted || this.#cancelled) return
    const c = classifyUpstreamError(err)
    // What the client sent (a bad header, a short body) says nothing about the server.
    if (c.code !== 'SWY_BAD_REQUEST') this.#o.upstream.states.failure(this.#target, (err as { code?: string }).code ?? c.code)
    if (!this.#started && c.retryable && this.#mayRetry()) {
      const tried = ex.tried ?? (ex.tried = new Set())
      tried.add(this.#target)
      const next = this.#o.upstream.strategy.pick(ex, tried)
      if (next !== undefined) { send(ex, next, this.#o); return }
    }
    if (!this.#started && c.retryable && c.code !== 'SWY_UPSTREAM_RESET') this.#o.onUnreachable?.(ex, this.#target)
    // Once a body byte went out the client can only see a cut; before that it still gets an honest 502/504.
    ex.fail(new UpstreamError(c.code, this.#target.url, c.retryable, err), this.#started && ex.bytesSent > 0)
  }

  #mayRetry (): boolean {
    const ex = this.#ex
    // Never repeat a request whose body may have reached the server, nor a non-idempotent one (RFC 9110 §9.2.2).
    return ex.body === null && IDEMPOTENT_METHODS.has(ex.forwardMethod) && ex.attempts <= this.#o.upstream.retries
  }

  #finish (): void {
    if (this.#done) return
    this.#done = true
    this.#target.inflight--
  }
}
