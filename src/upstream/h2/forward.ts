// The upstream stage for HTTP/2 servers (upstreams.NAME.protocol h2 or h2c): one stream per request on the server's
// session, the request body piped with backpressure, the answer streamed to the client with backpressure and its
// trailers relayed (gRPC's status travels in them). Failures, retries and passive health as forward.ts.
import { Buffer } from 'node:buffer'
import { constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2'
import { performance } from 'node:perf_hooks'
import { UpstreamError } from '../../errors/index.ts'
import type { Target } from '../../balancer/index.ts'
import { DONE, type Exchange, type Stage } from '../../pipeline/index.ts'
import { buildRequestHeaders, HOP_BY_HOP } from '../hop-headers.ts'
import { mayRetry, type ForwardOptions } from '../forward.ts'
import { classifyUpstreamError, UpstreamFailure, type Swept, type UpstreamClock } from '../client/index.ts'
import type { H2Server } from './session.ts'

/** What the HTTP/2 stage needs beside forward.ts's options: the clock whose sweep runs response deadlines. */
export interface H2ForwardOptions extends ForwardOptions<H2Server> {
  readonly clock: UpstreamClock
  /** timeouts.response: to the response head, and the longest pause in either body. */
  readonly responseMs: number
}

/**
 * Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2), beside the hop-by-hop ones hop-headers.ts drops from
 * requests: a backend's response must not carry them to the client either, nor into its trailers.
 */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'http2-settings'])

export function createH2Forward (o: H2ForwardOptions): Stage {
  return {
    name: 'upstream',
    run (ex) {
      send(ex, ex.target!, o)
      return DONE
    }
  }
}

function send (ex: Exchange, target: Target, o: H2ForwardOptions): void {
  ex.target = target
  ex.attempts++
  target.inflight++
  const attempt = new H2Attempt(ex, target, o)
  let headers: OutgoingHttpHeaders
  try {
    headers = h2RequestHeaders(ex, buildRequestHeaders(ex, o.upstream.hosts[target.index]!, o.requestHeaders), target.url.startsWith('https:') ? 'https' : 'http')
  } catch (err) {
    attempt.fail(new UpstreamFailure('UPSTREAM_INVALID_REQUEST', 'the request cannot be sent', err), false)
    return
  }
  o.upstream.pools[target.index]!.session((session, err) => {
    if (session === null) attempt.fail(err!, false)
    else attempt.start(session, headers)
  })
}

/**
 * The request's fields for HTTP/2: the Host as :authority (RFC 9113 §8.3.1), repeated fields as arrays. TE is the one
 * connection field HTTP/2 keeps, and only as `trailers` (§8.2.2): gRPC servers may insist on it.
 */
function h2RequestHeaders (ex: Exchange, flat: readonly string[], scheme: string): OutgoingHttpHeaders {
  const q = ex.query
  const h: OutgoingHttpHeaders = {
    ':method': ex.forwardMethod,
    ':scheme': scheme,
    ':path': q === '' ? ex.forwardPath : `${ex.forwardPath}?${q}`
  }
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!
    const value = flat[i + 1]!
    if (name === 'host') { h[':authority'] = value; continue }
    const had = h[name]
    if (had === undefined) h[name] = value
    else if (Array.isArray(had)) had.push(value)
    else h[name] = [String(had), value]
  }
  const te = ex.header('te')
  if (te !== undefined && /(?:^|,)\s*trailers\s*(?:[;,]|$)/i.test(te)) h.te = 'trailers'
  return h
}

/** The backend's fields as raw latin1 Buffers, the form forward.ts's response filter reads; pseudo-headers left out. */
function rawFields (h: IncomingHttpHeaders): Buffer[] {
  const out: Buffer[] = []
  for (const name in h) {
    if (name.charCodeAt(0) === 58) continue // ':status'
    const v = h[name]
    if (v === undefined) continue
    const nb = Buffer.from(name, 'latin1')
    if (Array.isArray(v)) for (const one of v) out.push(nb, Buffer.from(one, 'latin1'))
    else out.push(nb, Buffer.from(v, 'latin1'))
  }
  return out
}

/** Trailer fields to relay, flat `[name, value, …]`: no pseudo-headers, nothing connection-specific. */
function trailerFields (h: IncomingHttpHeaders): string[] {
  const out: string[] = []
  for (const name in h) {
    if (name.charCodeAt(0) === 58 || CONNECTION_SPECIFIC.has(name)) continue
    const v = h[name]
    if (v === undefined) continue
    if (Array.isArray(v)) for (const one of v) out.push(name, one)
    else out.push(name, v)
  }
  return out
}

/** One attempt: a stream on a server's session, its answer streamed to the client, its deadline swept by the clock. */
class H2Attempt implements Swept {
  readonly #ex: Exchange
  readonly #target: Target
  readonly #o: H2ForwardOptions
  #stream: ClientHttp2Stream | null = null
  #trailers: string[] | null = null
  /** The response head arrived (and went to the client). */
  #started = false
  #done = false
  /** Waiting for the client to drain: the deadline does not run while the client holds us back. */
  #held = false
  #deadline = 0
  readonly #sentAt = performance.now()

  constructor (ex: Exchange, target: Target, o: H2ForwardOptions) {
    this.#ex = ex
    this.#target = target
    this.#o = o
    ex.onAbort = () => { this.#cancel() }
  }

  start (session: ClientHttp2Session, headers: OutgoingHttpHeaders): void {
    const ex = this.#ex
    if (this.#done) return
    const body = ex.body
    let stream: ClientHttp2Stream
    try {
      stream = session.request(headers, { endStream: body === null })
    } catch (err) {
      // A field node:http2 refuses to send (a control byte, a connection field): nothing went out.
      this.fail(new UpstreamFailure('UPSTREAM_INVALID_REQUEST', 'the request cannot be sent over HTTP/2', err), false)
      return
    }
    this.#stream = stream
    this.#touch()
    this.#o.clock.add(this)
    stream.on('response', (h) => { this.#head(h) })
    stream.on('data', (chunk: Buffer) => { this.#data(chunk) })
    stream.on('trailers', (h) => { this.#trailers = trailerFields(h) })
    stream.on('end', () => { this.#end() })
    stream.on('error', (err: Error & { code?: string }) => {
      this.fail(new UpstreamFailure(err.code ?? 'UPSTREAM_CLOSED', err.message, err), this.#started)
    })
    stream.on('close', () => {
      // Reset without an error event (RST_STREAM NO_ERROR or CANCEL before the end): an incomplete answer.
      if (!this.#done) this.fail(new UpstreamFailure('UPSTREAM_CLOSED', `the stream closed before the response was complete (code ${stream.rstCode})`), this.#started)
    })
    if (body !== null) {
      // pipe(): the stream's write() returning false pauses the body, which pauses the client (RequestBody).
      body.on('data', () => { this.#touch() })
      body.pipe(stream)
    }
  }

  #touch (): void {
    this.#deadline = this.#o.clock.now + this.#o.responseMs
  }

  sweep (now: number): void {
    if (!this.#held && now > this.#deadline) {
      this.fail(new UpstreamFailure('UPSTREAM_RESPONSE_TIMEOUT', `no response progress within ${this.#o.responseMs} ms`), this.#started)
    }
  }

  #head (h: IncomingHttpHeaders): void {
    const ex = this.#ex
    const status = Number(h[':status'])
    // 1xx interim answers come as 'headers', not 'response'; this is the final head.
    this.#o.upstream.states.response(this.#target, status)
    ex.upstreamTtfb = performance.now() - this.#sentAt
    if (ex.aborted || this.#done) return
    this.#started = true
    this.#touch()
    const head = this.#o.filterResponse(rawFields(h), ex.requestId, ex)
    ex.status = status
    const d = ex.downstream
    const stream = this.#stream!
    d.onDrain = () => {
      this.#held = false
      this.#touch()
      stream.resume()
    }
    d.start(status, head.headers, head.length)
  }

  #data (chunk: Buffer): void {
    const ex = this.#ex
    if (ex.aborted || this.#done) return
    this.#touch()
    ex.bytesSent += chunk.length
    if (!ex.downstream.write(chunk)) {
      this.#held = true
      this.#stream!.pause()
    }
  }

  #end (): void {
    if (this.#done) return
    if (!this.#started) {
      this.fail(new UpstreamFailure('UPSTREAM_CLOSED', 'the stream ended without a response'), false)
      return
    }
    this.#finish()
    const ex = this.#ex
    if (ex.aborted) return
    const t = this.#trailers
    if (t !== null && t.length > 0) ex.downstream.trailers?.(t)
    ex.downstream.end()
  }

  #cancel (): void {
    if (this.#done) return
    this.#finish()
    // RST_STREAM CANCEL: the backend stops this request; the session's other streams go on.
    const s = this.#stream
    if (s !== null && !s.destroyed) s.close(constants.NGHTTP2_CANCEL)
  }

  /** The attempt failed: as forward.ts's ProxyHandler.onError, a retry elsewhere when safe, else 502/504 or a cut. */
  fail (err: UpstreamFailure, answered: boolean): void {
    if (this.#done) return
    this.#finish()
    const s = this.#stream
    if (s !== null && !s.destroyed) s.close(constants.NGHTTP2_CANCEL)
    const ex = this.#ex
    if (ex.aborted) return
    const o = this.#o
    const c = classifyUpstreamError(err)
    if (c.code !== 'SWY_BAD_REQUEST') {
      o.upstream.states.failure(this.#target, err.code)
      o.upstream.meter?.failure(this.#target, c.code)
    }
    if (!this.#started && !answered && c.retryable && mayRetry(this.#ex, this.#o.upstream.retries)) {
      const tried = ex.tried ?? (ex.tried = new Set())
      tried.add(this.#target)
      const next = o.upstream.strategy.pick(ex, tried)
      if (next !== undefined) {
        o.upstream.meter?.retry(this.#target)
        send(ex, next, o)
        return
      }
    }
    if (!this.#started && c.retryable && c.code !== 'SWY_UPSTREAM_RESET') o.onUnreachable?.(ex, this.#target)
    ex.fail(new UpstreamError(c.code, this.#target.url, c.retryable, err), this.#started && ex.bytesSent > 0)
  }


  #finish (): void {
    if (this.#done) return
    this.#done = true
    this.#target.inflight--
    if (this.#stream !== null) this.#o.clock.remove(this)
  }
}
