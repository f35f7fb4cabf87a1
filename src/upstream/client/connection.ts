// One keep-alive connection to a backend server: writes a request (its head in one write, its body streamed with
// backpressure; a bodiless request's head goes out with the turn's other writes, net/end-of-turn.ts), parses the
// answer with the strict parser as it is read into the runtime's shared buffer, and goes back to its pool only after a
// complete, well-framed response to a completely sent request.
import { Buffer } from 'node:buffer'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import type { Readable } from 'node:stream'
import { atEndOfTurn, releaseOnWrite, type Deferred } from '../../net/index.ts'
import { ResponseParser, type ParserSink } from './response-parser.ts'
import type { Swept, UpstreamClock } from './clock.ts'

/** A request as the connection writes it. */
export interface UpstreamRequest {
  /** The request line and fields, ending in the empty line; latin1 (one byte per char). */
  readonly head: string
  /** HEAD: the answer has no body whatever its fields say. */
  readonly isHead: boolean
  readonly body: Readable | null
  /** The body goes out chunked (its length was not known); else it has exactly `length` bytes. */
  readonly chunked: boolean
  readonly length: number
  /** Idempotent and bodiless: may be sent again on a new connection when a reused one turns out closed. */
  readonly retryStale: boolean
}

/** Who gets the answer. Body chunks are views of a shared buffer: valid only during the call. */
export interface ResponseHandler {
  onHead (status: number, headers: Buffer[]): void
  /** A length-framed answer whose whole body is here (a view, valid during the call): instead of onHead + onBody. */
  onWhole (status: number, headers: Buffer[], body: Buffer): void
  /** False: stop reading until the call's `resume()`. */
  onBody (chunk: Buffer): boolean
  onEnd (): void
  /** `answered`: some byte of a response had arrived (so the request must not be sent anywhere again). */
  onError (err: UpstreamFailure, answered: boolean): void
}

/** Why a request failed; `code` is an OS error code (ECONNREFUSED …) or one of UPSTREAM_* (see errors.ts). */
export class UpstreamFailure extends Error {
  readonly code: string
  constructor (code: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.code = code
  }
}

/** How to reach one server, fixed per config generation. */
export interface ServerAddress {
  readonly host: string
  readonly port: number
  /** node:tls options for https:// servers (CA, SNI name, verification, client certificate), else undefined. */
  readonly tls: ConnectionOptions | undefined
  readonly timeouts: { readonly connect: number, readonly response: number, readonly idle: number }
}

/** What a connection needs from its pool. */
export interface ConnectionOwner {
  readonly address: ServerAddress
  readonly clock: UpstreamClock
  /** The last TLS session, offered on the next handshake. */
  tlsSession: Buffer | undefined
  /** The connection finished a response and can take another request. */
  release (c: Connection): void
  /** The connection is gone (closed, failed or cut). */
  removed (c: Connection): void
  /** A reused connection turned out closed before any answer: send the call again on a new one. */
  retryStale (call: PendingCall): void
}

/** The part of a pool's call a connection drives. */
export interface PendingCall {
  readonly req: UpstreamRequest
  readonly handler: ResponseHandler
  conn: Connection | null
  staleRetried: boolean
}

const CONNECTING = 0
const BUSY = 1
const IDLE = 2
const CLOSED = 3

/** Errors after which a request that got no answer on a reused connection may be sent again (the server had closed it). */
const STALE: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'UPSTREAM_CLOSED'])

export class Connection implements Swept, ParserSink, Deferred {
  readonly #owner: ConnectionOwner
  readonly #socket: Socket
  readonly #parser: ResponseParser
  #state = CONNECTING
  #connected = false
  #call: PendingCall | null = null
  /** Start of the current deadline: connect started, last byte moved, or idle since. */
  #since: number
  /** Responses completed on this connection: a reused one may have been closed by the server meanwhile. */
  #served = 0
  #requestDone = false
  /** A bodiless request's head, held for the end of the turn (runDeferred writes it). */
  #unsentHead: string | null = null
  /** The client side asked to stop; resumed by the call. */
  #paused = false
  /** Bytes read but not parsed when the client side asked to stop (a copy). */
  #held: Buffer | null = null
  #bodyBytes = 0
  #bodyWaiting = false
  /** How long this connection may stay idle: timeouts.idle, or less when the server said it closes sooner. */
  #idleMs: number
  readonly #onBodyData = (chunk: Buffer): void => { this.#bodyData(chunk) }
  readonly #onBodyEnd = (): void => { this.#bodyEnd() }
  readonly #onBodyError = (err: Error): void => { this.#fail(new UpstreamFailure('UPSTREAM_REQUEST_BODY', 'request body failed', err)) }

  constructor (owner: ConnectionOwner) {
    this.#owner = owner
    const a = owner.address
    const clock = owner.clock
    this.#since = clock.now
    this.#idleMs = a.timeouts.idle
    this.#parser = new ResponseParser(this)
    const onread = { buffer: clock.readBuffer, callback: (n: number, buf: Uint8Array): boolean => this.#onRead(n, buf as Buffer) }
    if (a.tls === undefined) {
      this.#socket = netConnect({ host: a.host, port: a.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000, onread })
      this.#socket.once('connect', () => { this.#onConnect() })
    } else {
      const options: ConnectionOptions = { ...a.tls, host: a.host, port: a.port }
      // @types/node leaves `onread` out of tls options; node:tls takes it since v15 (nodejs/node#35753).
      ;(options as { onread?: unknown }).onread = onread
      if (owner.tlsSession !== undefined) options.session = owner.tlsSession
      const s = tlsConnect(options)
      s.setNoDelay(true)
      s.setKeepAlive(true, 60_000)
      s.once('secureConnect', () => { this.#onConnect() })
      s.on('session', (session: Buffer) => { owner.tlsSession = session })
      this.#socket = s
    }
    const s = this.#socket
    s.on('error', (err: NodeJS.ErrnoException) => { this.#fail(new UpstreamFailure(err.code ?? 'UPSTREAM_SOCKET', err.message, err)) })
    s.on('end', () => { this.#onEof() })
    s.on('close', () => { this.#fail(new UpstreamFailure('UPSTREAM_CLOSED', 'the server closed the connection')) })
    s.on('drain', () => {
      if (!this.#bodyWaiting) return
      this.#bodyWaiting = false
      this.#call?.req.body?.resume()
    })
    clock.add(this)
  }

  get idle (): boolean { return this.#state === IDLE }
  /** Not closed (read through a getter: callbacks may close it while a method runs). */
  get #open (): boolean { return this.#state !== CLOSED }

  /** Sends `call`'s request on this connection (new, or idle and taken from the pool). */
  assign (call: PendingCall): void {
    call.conn = this
    this.#call = call
    if (this.#state === IDLE) this.#state = BUSY
    const req = call.req
    this.#parser.reset(this, req.isHead)
    this.#requestDone = false
    this.#paused = false
    this.#since = this.#owner.clock.now
    const body = req.body
    if (body === null) {
      this.#unsentHead = req.head
      atEndOfTurn(this)
      this.#requestDone = true
      return
    }
    this.#socket.write(req.head, 'latin1')
    this.#bodyBytes = 0
    body.on('data', this.#onBodyData)
    body.once('end', this.#onBodyEnd)
    body.once('error', this.#onBodyError)
  }

  runDeferred (): void {
    const head = this.#unsentHead
    if (head === null) return // closed meanwhile
    this.#unsentHead = null
    this.#socket.write(head, 'latin1')
  }

  #onConnect (): void {
    this.#connected = true
    if (this.#state === CONNECTING) this.#state = this.#call === null ? IDLE : BUSY
    this.#since = this.#owner.clock.now
  }

  #bodyData (chunk: Buffer): void {
    if (this.#state === CLOSED) return
    this.#bodyBytes += chunk.length
    this.#since = this.#owner.clock.now
    const s = this.#socket
    let ok: boolean
    if (this.#call!.req.chunked) {
      if (chunk.length === 0) return // a zero-size chunk would end the body (RFC 9112 §7.1)
      s.cork()
      s.write(`${chunk.length.toString(16)}\r\n`, 'latin1')
      s.write(chunk, releaseOnWrite(chunk))
      ok = s.write('\r\n', 'latin1')
      s.uncork()
    } else {
      ok = s.write(chunk, releaseOnWrite(chunk))
    }
    if (!ok) {
      this.#bodyWaiting = true
      this.#call!.req.body!.pause()
    }
  }

  #bodyEnd (): void {
    if (this.#state === CLOSED) return
    const req = this.#call!.req
    this.#detachBody(req.body!)
    if (req.chunked) this.#socket.write('0\r\n\r\n', 'latin1')
    else if (this.#bodyBytes !== req.length) {
      this.#fail(new UpstreamFailure('UPSTREAM_INVALID_REQUEST', `request body of ${this.#bodyBytes} bytes, Content-Length ${req.length}`))
      return
    }
    this.#requestDone = true
    this.#since = this.#owner.clock.now
  }

  #detachBody (body: Readable): void {
    body.off('data', this.#onBodyData)
    body.off('end', this.#onBodyEnd)
    body.off('error', this.#onBodyError)
    this.#bodyWaiting = false
  }

  #onRead (n: number, buf: Buffer): boolean {
    if (this.#state !== BUSY) {
      // Bytes nobody asked for (an idle connection, or after a cut): this connection's framing can't be trusted.
      this.close()
      return false
    }
    if (this.#unsentHead !== null) {
      // The server spoke before it had the request (a reused connection it is closing with a 408, say): not an
      // answer to it. Closed, and the request sent again on a new connection where that is allowed.
      this.#fail(new UpstreamFailure('UPSTREAM_CLOSED', 'the server sent bytes before the request'))
      return false
    }
    this.#since = this.#owner.clock.now
    return this.#parse(buf, n)
  }

  /** Parses `buf[0, n)` for the current call. Returns whether to keep reading. */
  #parse (buf: Buffer, n: number): boolean {
    const p = this.#parser
    const at = p.execute(buf, 0, n)
    if (at < 0) {
      this.#fail(new UpstreamFailure('UPSTREAM_BAD_RESPONSE', `bad response: ${p.reason}`))
      return false
    }
    if (this.#state !== BUSY) return false // the client went away during a callback
    if (p.done) {
      this.#complete(at < n)
      // Kept for another request: read on, so a close or stray bytes while idle are seen at once.
      return this.#open
    }
    if (at < n) {
      // The client side is full: keep the rest (a copy: the read buffer is shared) until it drains.
      this.#held = Buffer.from(buf.subarray(at, n))
      return false
    }
    return !this.#paused
  }

  /** The client side can take more. */
  resume (): void {
    if (!this.#paused || this.#state !== BUSY) return
    this.#paused = false
    this.#since = this.#owner.clock.now
    const h = this.#held
    if (h !== null) {
      this.#held = null
      if (!this.#parse(h, h.length)) return
    }
    this.#socket.resume()
  }

  // ParserSink: the parser calls these during execute.
  onHead (status: number, headers: Buffer[]): void {
    this.#call!.handler.onHead(status, headers)
  }

  onWhole (status: number, headers: Buffer[], body: Buffer): void {
    this.#call!.handler.onWhole(status, headers, body)
  }

  onBody (chunk: Buffer): boolean {
    const ok = this.#call!.handler.onBody(chunk)
    if (!ok) this.#paused = true
    return ok
  }

  onEnd (): void {
    // Acted on once execute returns (#complete), when it is known whether bytes followed.
  }

  /** The response is complete. The connection is reused only if nothing about it is in doubt. */
  #complete (extra: boolean): void {
    const call = this.#call!
    this.#call = null
    call.conn = null
    this.#served++
    this.#paused = false
    const reuse = this.#parser.keepAlive && this.#requestDone && !extra && this.#state === BUSY
    if (call.req.body !== null && !this.#requestDone) this.#detachBody(call.req.body)
    if (reuse) {
      // A server that announced its idle timeout is left a second's margin, as undici does: a request sent just as
      // it closes would be lost (a GET is sent again; anything else would fail).
      const ka = this.#parser.keepAliveMs
      if (ka >= 0) this.#idleMs = Math.min(this.#owner.address.timeouts.idle, Math.max(0, ka - 1000))
      this.#state = IDLE
      this.#since = this.#owner.clock.now
      this.#owner.release(this)
    } else {
      this.close()
    }
    call.handler.onEnd()
  }

  /** The server closed its side. */
  #onEof (): void {
    if (this.#state !== BUSY) { this.close(); return }
    if (this.#parser.finish()) { this.#complete(false); return }
    this.#fail(new UpstreamFailure('UPSTREAM_CLOSED', 'the server closed the connection before the response was complete'))
  }

  /** Fails the current call (if any) and closes. A stale reused connection gets its call sent again instead. */
  #fail (err: UpstreamFailure): void {
    if (this.#state === CLOSED) return
    const call = this.#call
    const answered = this.#parser.started
    const stale = this.#served > 0 && !answered && STALE.has(err.code)
    this.#drop()
    if (call === null) return
    if (stale && call.req.retryStale && !call.staleRetried) {
      call.staleRetried = true
      this.#owner.retryStale(call)
      return
    }
    call.handler.onError(err, answered)
  }

  /** Fails the current request with `err` (its pool is closing) and closes. */
  abort (err: UpstreamFailure): void {
    this.#fail(err)
  }

  /** Closes without telling anyone: idle, done, or cancelled by the client. */
  close (): void {
    if (this.#state === CLOSED) return
    this.#drop()
  }

  #drop (): void {
    const call = this.#call
    this.#call = null
    if (call !== null) {
      call.conn = null
      if (call.req.body !== null) this.#detachBody(call.req.body)
    }
    this.#state = CLOSED
    this.#held = null
    this.#unsentHead = null
    this.#parser.abandon()
    this.#socket.destroy()
    this.#owner.clock.remove(this)
    this.#owner.removed(this)
  }

  sweep (now: number): void {
    const t = this.#owner.address.timeouts
    const elapsed = now - this.#since
    if (!this.#connected) {
      if (elapsed > t.connect) this.#fail(new UpstreamFailure('UPSTREAM_CONNECT_TIMEOUT', `no connection within ${t.connect} ms`))
    } else if (this.#state === BUSY) {
      // The response deadline runs once the request is out (or the answer started), never while the client holds us.
      if (!this.#paused && (this.#requestDone || this.#parser.started) && elapsed > t.response) {
        this.#fail(new UpstreamFailure('UPSTREAM_RESPONSE_TIMEOUT', `no response byte within ${t.response} ms`))
      }
    } else if (this.#state === IDLE && elapsed > this.#idleMs) {
      this.close()
    }
  }
}
