// The client side of one exchange on uWS, and the one place uWS responses are written: status and headers wait for the
// first body byte so that small answers leave in one corked write; bodies stream with tryEnd/onWritable (known
// length) or write (chunked).
import { Buffer } from 'node:buffer'
import type { HttpResponse } from 'uWebSockets.js'
import { addressFromBytes, atEndOfTurn, copyView, normaliseAddress, releaseChunk, type Deferred } from '../../net/index.ts'
import { statusLine } from '../../response/index.ts'
import { sendByParts, type Downstream, type EncodedHead, type Exchange, type PeerAddress } from '../../pipeline/index.ts'
import type { ListenerState } from '../listener.ts'

/**
 * Bodies up to this size go out with `send` in one `end()`, which uWS buffers whole whatever the socket takes; larger
 * ones stream with backpressure through `write`, so a slow client never makes uWS hold a big copy.
 */
const SEND_WHOLE_MAX = 64 * 1024

/**
 * Whole answers up to this size are held (a copy) and sent with the turn's other writes (net/end-of-turn.ts): the
 * client, awake for the first, reads the rest without a wakeup each. Larger ones go at once: holding 64 KiB copies cost
 * more than the wakeups saved (64 KiB bench: ~15k against ~19k req/s).
 */
const DEFER_MAX = 16 * 1024

const NO_EXCHANGE = null as unknown as Exchange

/**
 * Ends a HEAD answer that announces `length` body bytes. `endWithoutBody(length)` leaves uWS waiting for those
 * bytes, so the response never completes and the connection's next request is dropped with a close
 * (test/integration/streaming-edges.test.ts). So the length goes out as a plain header and uWS ends an empty
 * response. When the connection closes after this answer anyway, uWS's own form is fine and does the closing.
 */
function endHead (res: HttpResponse, length: number, close: boolean): void {
  if (close) {
    res.endWithoutBody(length, true)
    return
  }
  res.writeHeader('content-length', String(length))
  res.endWithoutBody()
}

/** What the request's Connection header asks of this answer (the listener reads it with the other headers). */
export type ClientClose = typeof CLIENT_KEEPS | typeof CLIENT_CLOSES | typeof UWS_CLOSES
/** No `close` option: keep-alive. */
export const CLIENT_KEEPS = 0
/** `close` among other options (`keep-alive, close`): uWS keeps the connection; our answer says close and the client closes it. */
export const CLIENT_CLOSES = 1
/** A value uWS itself reads as close: it closes after the answer, which must still say so. */
export const UWS_CLOSES = 2

/** A bug before the request had an Exchange: answered rather than left hanging (uWS aborts a handler that neither answers nor listens for aborts). */
export function answerFault (res: HttpResponse): void {
  res.cork(() => res.writeStatus('500 Internal Server Error').end('', true))
}

export class UwsDownstream implements Downstream, PeerAddress, Deferred {
  onDrain: (() => void) | null = null
  readonly #res: HttpResponse
  #ex: Exchange
  readonly #head: boolean
  /** The request's Connection header has the `close` option (RFC 9112 §9.6): this answer closes and says so. */
  readonly #clientClose: boolean
  /**
   * uWS itself saw a close request (its rule: the first Connection value is 5 bytes long, docs/engines.md) and closes
   * after any end, but then writes no `Connection: close`, not even for `end(body, true)`: we write it.
   */
  readonly #uwsCloses: boolean
  readonly #state: ListenerState
  #status = 0
  #headers: readonly (string | Uint8Array)[] = []
  #length = -1
  #headWritten = false
  /** We wrote `Connection: close` ourselves (draining): uWS must not add a second one. */
  #closeWritten = false
  #ended = false
  #pending: Uint8Array | null = null
  #pendingStart = 0
  #writableArmed = false
  /** A whole answer held for the end of the turn (send); its body a copy. */
  #heldHead: EncodedHead | null = null
  #heldExtra: readonly string[] = []
  #heldBody: Uint8Array | null = null
  #bodyPaused = false

  constructor (res: HttpResponse, head: boolean, close: ClientClose, state: ListenerState) {
    this.#res = res
    this.#ex = NO_EXCHANGE
    this.#head = head
    this.#clientClose = close !== CLIENT_KEEPS
    this.#uwsCloses = close === UWS_CLOSES
    this.#state = state
  }

  /**
   * This answer ends its connection: the client asked (uWS then closes after it, but writes no `Connection: close`
   * itself, so a keep-alive client would reuse a dead socket), or the worker drains. Either way the head says so.
   */
  #closing (): boolean {
    return this.#clientClose || this.#state.draining
  }

  /** Binds the exchange this downstream answers for (the two are made together by the listener). */
  attach (ex: Exchange): void {
    this.#ex = ex
  }

  /**
   * The peer's address, normalised; '' once the response is over (uWS forbids touching it then). A peer in
   * trusted_proxies that opened the connection with a PROXY protocol v2 header (a layer-4 load balancer) stands for
   * the client it names, and that client is the peer from here on. uWS parses such a header on every connection and
   * cannot be told not to (docs/uws.md §6), so from anyone else it is ignored.
   */
  remoteAddress (): string {
    if (this.#ex.aborted || this.#ex.finished) return ''
    const res = this.#res
    const real = addressFromBytes(res.getRemoteAddress())
    if (this.#state.trusted.size === 0 || !this.#state.trusted.has(real)) return real
    const claimed = Buffer.from(res.getProxiedRemoteAddressAsText()).toString()
    return claimed === '' ? real : normaliseAddress(claimed)
  }

  /** The request body is still wanted: nobody aborted or answered yet. */
  get wantsBody (): boolean {
    return !this.#ex.aborted && !this.#ex.finished
  }

  /** Reading the client's body is paused by us (its backend is slower), not stalled by the client. */
  get bodyPaused (): boolean {
    return this.#bodyPaused
  }

  /** Stops reading the client: its body is ahead of the backend (docs/uws.md §2). */
  pauseBody (): void {
    if (this.#bodyPaused) return
    this.#bodyPaused = true
    this.#res.pause()
  }

  /**
   * Reads the client again. Also called just before a response ends: a socket left paused never times out and
   * never reports an abort, so after an early answer the connection would hang until the client gave up.
   * Resumed, uWS reads the rest of the body (onData drops it) and the connection stays usable.
   */
  resumeBody (): void {
    if (!this.#bodyPaused || this.#ex.aborted || this.#ex.finished) return
    this.#bodyPaused = false
    this.#res.resume()
  }

  start (status: number, headers: readonly (string | Uint8Array)[], length: number): void {
    this.#status = status
    this.#headers = headers
    this.#length = length
  }

  #writeHead (): void {
    const res = this.#res
    this.#headWritten = true
    res.writeStatus(statusLine(this.#status))
    const h = this.#headers
    for (let i = 0; i < h.length; i += 2) res.writeHeader(h[i]!, h[i + 1]!)
    this.#routeHeaders()
    // A body with a length ends through tryEnd, which cannot ask uWS to close, so tell the client in the head; it
    // closes after this response (and, when draining, reconnects to the new generation) (RFC 9112 §9.6).
    if (this.#closing()) {
      res.writeHeader('connection', 'close')
      this.#closeWritten = true
    }
  }

  write (chunk: Uint8Array): boolean {
    if (this.#ex.aborted || this.#ended || this.#head) return true
    let ok = true
    this.#res.cork(() => {
      const res = this.#res
      if (!this.#headWritten) this.#writeHead()
      if (this.#length >= 0) {
        const start = res.getWriteOffset()
        if (start + chunk.length >= this.#length) this.resumeBody() // may end the response: res is gone after
        const [sent, done] = res.tryEnd(chunk, this.#length)
        if (done) { this.#complete(); return }
        // A copy: the chunk is only lent for this call (the upstream client reads into one shared buffer).
        if (!sent) { this.#pending = Buffer.from(chunk); this.#pendingStart = start; ok = false }
      } else {
        ok = res.write(chunk)
      }
      if (!ok) this.#armWritable()
    })
    return ok
  }

  #armWritable (): void {
    if (this.#writableArmed) return
    this.#writableArmed = true
    this.#res.onWritable((offset) => this.#onWritable(offset))
  }

  #onWritable (offset: number): boolean {
    if (this.#ex.aborted || this.#ex.finished) return true
    const p = this.#pending
    if (p !== null) {
      if (this.#pendingStart + p.length >= this.#length) this.resumeBody()
      const [sent, done] = this.#res.tryEnd(p.subarray(offset - this.#pendingStart), this.#length)
      if (done) { this.#pending = null; this.#complete(); return true }
      if (!sent) return false
      this.#pending = null
    }
    const drain = this.onDrain
    if (drain !== null) drain()
    return true
  }

  end (): void {
    if (this.#ex.aborted || this.#ended) return
    this.#ended = true
    if (this.#pending !== null) return // the last tryEnd completes the response from onWritable
    if (this.#ex.finished) return
    this.#res.cork(() => {
      const res = this.#res
      this.resumeBody()
      if (!this.#headWritten) this.#writeHead()
      const close = this.#closing() && !this.#closeWritten
      const s = this.#status
      if (this.#head && this.#length >= 0) {
        endHead(res, this.#length, close)
      } else if (this.#head || s === 204 || s === 304) {
        // No argument: `undefined` would be sent as Content-Length 9223372036854775808 (docs/uws.md §2),
        // and 204/304 must carry none (RFC 9110 §8.6). uWS can only close on a length, so say it in a header.
        if (close) res.writeHeader('connection', 'close')
        res.endWithoutBody()
      } else if (this.#length >= 0) {
        // Backend sent fewer bytes than its Content-Length: undici reports that as an error, not here.
        if (this.#length === 0) res.end(undefined, close)
        else { res.close(); this.#ex.clientAborted(); return }
      } else {
        res.end(undefined, close)
      }
      this.#complete()
    })
  }

  /**
   * A whole answer with a head encoded ahead (a cache hit): the status line and stored fields in one `writeStatus`,
   * `extra` folded into one `writeHeader`, the body in one `end`. Five calls into uWS where start + write + end make
   * two corks, a write offset and a call per field. HEAD, 204/304 and bodies over SEND_WHOLE_MAX take that general
   * path, which knows their rules. `body` is lent for the call (the upstream client's read buffer): one of up to
   * DEFER_MAX bytes is copied and the answer goes out at the end of the turn.
   */
  send (head: EncodedHead, extra: readonly string[], body: Uint8Array): void {
    if (this.#ex.aborted || this.#ex.finished || this.#ended) return
    const s = head.status
    if (this.#head || s === 204 || s === 304 || body.length > SEND_WHOLE_MAX || extra.length < 2) {
      sendByParts(this, head, extra, body)
      return
    }
    this.#ended = true
    this.#headWritten = true
    if (body.length > DEFER_MAX) {
      this.#sendWhole(head, extra, body)
      return
    }
    this.#heldHead = head
    this.#heldExtra = extra
    this.#heldBody = copyView(body)
    atEndOfTurn(this)
  }

  runDeferred (): void {
    const head = this.#heldHead
    const body = this.#heldBody
    if (head === null || body === null) return
    this.#heldHead = null
    this.#heldBody = null
    // The client may have gone meanwhile: uWS forbids touching its response then.
    if (!this.#ex.aborted && !this.#ex.finished) this.#sendWhole(head, this.#heldExtra, body)
    releaseChunk(body) // uWS has sent or copied the bytes
  }

  #sendWhole (head: EncodedHead, extra: readonly string[], body: Uint8Array): void {
    this.#res.cork(() => {
      const res = this.#res
      this.resumeBody()
      res.writeStatus(head.bytes)
      let v = extra[1]!
      for (let i = 2; i < extra.length; i += 2) v += `\r\n${extra[i]!}: ${extra[i + 1]!}`
      res.writeHeader(extra[0]!, v)
      this.#routeHeaders()
      // Closing (the client asked, or the worker drains): uWS closes after this end and says so in the head, as in
      // reply. The general path's tryEnd cannot close: a draining worker's connection stayed open until it exited.
      let close = this.#closing()
      if (close && this.#uwsCloses) {
        res.writeHeader('connection', 'close')
        close = false
      }
      res.end(body, close)
      this.#complete()
    })
  }

  abort (): void {
    if (this.#ex.aborted || this.#ex.finished) return
    this.#ended = true
    this.#res.close() // the client sees a cut connection, never a short body that looks complete
    this.#ex.clientAborted()
  }

  reply (status: number, headers: readonly string[], body: string, close: boolean): void {
    if (this.#ex.aborted || this.#ex.finished) return
    this.#ended = true
    this.#res.cork(() => {
      const res = this.#res
      this.resumeBody()
      res.writeStatus(statusLine(status))
      for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i]!, headers[i + 1]!)
      this.#routeHeaders()
      // Asked to close here, uWS writes `Connection: close` itself, unless it is closing anyway because the client
      // asked (then it writes none, and the close flag would only make 20.30 keep a HEAD's connection open).
      let c = close || this.#closing()
      if (c && this.#uwsCloses) {
        res.writeHeader('connection', 'close')
        c = false
      }
      if (this.#head) endHead(res, Buffer.byteLength(body), c)
      else res.end(body, c)
      this.#ex.bytesSent = body.length
    })
    this.#complete()
  }

  /** The route's security_headers, on every response of the route: proxied, cached and local (built once per route). */
  #routeHeaders (): void {
    const h = this.#ex.route?.responseHeaders
    if (h === undefined) return
    for (let i = 0; i < h.length; i += 2) this.#res.writeHeader(h[i]!, h[i + 1]!)
  }

  #complete (): void {
    this.#ex.completed()
  }
}
