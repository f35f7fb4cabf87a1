// The client side of one exchange on the node engine, and the one place its responses are written. node:http's
// ServerResponse and node:http2's compatibility Http2ServerResponse share the surface used here (writeHead, write,
// end, addTrailers, 'drain', 'finish', 'close'), so HTTP/1.x and HTTP/2 clients are answered by the same code; only
// cutting a response and closing a connection differ.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { constants, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2'
import { normaliseAddress } from '../../net/index.ts'
import type { Downstream, Exchange, PeerAddress } from '../../pipeline/index.ts'
import type { BodyFeed } from '../body-timeout.ts'
import type { ListenerState } from '../listener.ts'

export type NodeRequest = IncomingMessage | Http2ServerRequest
export type NodeResponse = ServerResponse | Http2ServerResponse

const NO_EXCHANGE = null as unknown as Exchange

/**
 * Whether a request came over HTTP/2. Not `httpVersionMajor`: node:http's parser takes `HTTP/2.0` in an HTTP/1 request
 * line and reports 2 (the fuzzer found it: the worker then read a stream that does not exist).
 */
export function isH2 (req: NodeRequest): req is Http2ServerRequest {
  return (req as Http2ServerRequest).stream !== undefined
}

/**
 * Fields HTTP/2 forbids (RFC 9113 §8.2.2): connection-specific ones, which node:http2 refuses to send. On HTTP/1.x
 * node writes its own Connection and Transfer-Encoding, so the backend's never pass either (hop-by-hop, RFC 9110 §7.6.1).
 */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'])

/** A header block in node's form: lower-case names, repeated fields as arrays (Set-Cookie), values as strings. */
export function headerObject (flat: readonly (string | Uint8Array)[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>
  for (let i = 0; i < flat.length; i += 2) {
    const name = (typeof flat[i] === 'string' ? flat[i] as string : Buffer.from(flat[i]!).toString('latin1')).toLowerCase()
    if (CONNECTION_SPECIFIC.has(name) || name === 'content-length') continue
    const raw = flat[i + 1]!
    const value = typeof raw === 'string' ? raw : Buffer.from(raw).toString('latin1')
    const had = out[name]
    if (had === undefined) out[name] = value
    else if (typeof had === 'string') out[name] = [had, value]
    else had.push(value)
  }
  return out
}

export class NodeDownstream implements Downstream, PeerAddress, BodyFeed {
  onDrain: (() => void) | null = null
  readonly #req: NodeRequest
  readonly #res: NodeResponse
  readonly #h2: boolean
  readonly #head: boolean
  readonly #state: ListenerState
  #ex: Exchange = NO_EXCHANGE
  #status = 0
  #headers: readonly (string | Uint8Array)[] = []
  #trailers: readonly string[] | null = null
  #length = -1
  #written = 0
  #headWritten = false
  #ended = false
  #bodyPaused = false
  /** The connection became a WebSocket: the relay reports the exchange's end from now on. */
  #upgraded = false

  constructor (req: NodeRequest, res: NodeResponse, state: ListenerState) {
    this.#req = req
    this.#res = res
    this.#h2 = isH2(req)
    this.#head = req.method === 'HEAD'
    this.#state = state
  }

  /** Binds the exchange and reports its end: 'finish' once the answer is handed over, 'close' before that is an abort. */
  attach (ex: Exchange): void {
    this.#ex = ex
    const res = this.#res as ServerResponse
    res.on('drain', () => { this.onDrain?.() })
    res.on('finish', () => {
      // node:http2's compatibility layer emits 'finish' whenever the stream closes, a client's RST_STREAM included:
      // only an answer we ended, on a stream closed without error, is complete. Otherwise the work for it stops.
      if (this.#h2 && (!this.#ended || (this.#res as Http2ServerResponse).stream.rstCode !== constants.NGHTTP2_NO_ERROR)) ex.clientAborted()
      else ex.completed()
    })
    res.on('close', () => { if (!ex.finished && !this.#upgraded) ex.clientAborted() })
  }

  /** The handshake was completed: the socket is the WebSocket's. */
  upgraded (): void {
    this.#upgraded = true
  }

  /** The HTTP/2 stream's id, or 0 on HTTP/1.x. */
  get streamId (): number {
    return this.#h2 ? (this.#res as Http2ServerResponse).stream.id ?? 0 : 0
  }

  /** The TCP peer's address, normalised. PROXY protocol headers are read on uws listeners only (README "Engines"). */
  remoteAddress (): string {
    return normaliseAddress(this.#req.socket?.remoteAddress ?? '')
  }

  /** Nobody answered or aborted yet. Not the exchange's `finished`: node reports that a tick after `end`, and body bytes arriving between must not pause the client again. */
  get wantsBody (): boolean {
    return !this.#ended && !this.#ex.aborted && !this.#ex.finished
  }

  get bodyPaused (): boolean {
    return this.#bodyPaused
  }

  pauseBody (): void {
    if (this.#bodyPaused || this.#ended) return
    this.#bodyPaused = true
    this.#req.pause()
  }

  /** Reads the client again; also before an answer ends, so node can read (and drop) the rest of an unwanted body. */
  resumeBody (): void {
    if (!this.#bodyPaused) return
    this.#bodyPaused = false
    this.#req.resume()
  }

  start (status: number, headers: readonly (string | Uint8Array)[], length: number): void {
    this.#status = status
    this.#headers = headers
    this.#length = length
  }

  /** Trailer fields to send after the body (flat `[name, value, …]`): HTTP/2, or a chunked HTTP/1.1 answer. */
  trailers (fields: readonly string[]): void {
    this.#trailers = fields
  }

  #writeHead (): void {
    this.#headWritten = true
    ;(this.#res as ServerResponse).writeHead(this.#status, this.#headObject())
  }

  #headObject (): Record<string, string | string[]> {
    const h = headerObject(this.#headers)
    const s = this.#status
    if (this.#length >= 0 && s !== 204 && s !== 304 && !(s >= 100 && s < 200)) h['content-length'] = String(this.#length)
    this.#closeHeader(h)
    const r = this.#ex.route?.responseHeaders
    if (r !== undefined) for (let i = 0; i < r.length; i += 2) h[r[i]!] = r[i + 1]!
    return h
  }

  /**
   * An HTTP/2 answer with neither body nor trailers, as one HEADERS frame with END_STREAM: a trailers-only answer,
   * which is how gRPC reads a status sent in the head (writeHead would send the head at once, the end apart).
   */
  #respondEmpty (status: number, h: Record<string, string | string[]>): void {
    this.#headWritten = true
    const res = this.#res as Http2ServerResponse
    res.statusCode = status
    for (const name in h) res.setHeader(name, h[name]!)
    res.end()
  }

  /** Draining: an HTTP/1.x answer closes its connection and says so; HTTP/2 connections get GOAWAY from the listener. */
  #closeHeader (h: Record<string, string | string[]>): void {
    if (!this.#h2 && this.#state.draining) h.connection = 'close'
  }

  write (chunk: Uint8Array): boolean {
    if (this.#ex.aborted || this.#ended) return true
    if (!this.#headWritten) this.#writeHead()
    if (this.#head) return true
    this.#written += chunk.length
    // A copy: the chunk is only lent for this call (the upstream client reads into one shared buffer).
    return (this.#res as ServerResponse).write(Buffer.from(chunk))
  }

  end (): void {
    if (this.#ex.aborted || this.#ended || this.#ex.finished) return
    this.#ended = true
    this.resumeBody()
    const t = this.#trailers
    const s = this.#status
    if (!this.#head && this.#length > 0 && this.#written < this.#length && s !== 204 && s !== 304) {
      // The backend sent fewer bytes than its Content-Length: the client sees a cut, never a short body that looks whole.
      this.abort()
      return
    }
    if (!this.#headWritten) {
      if (this.#h2 && (t === null || t.length === 0)) { this.#respondEmpty(s, this.#headObject()); return }
      this.#writeHead()
    }
    if (t !== null && t.length > 0) (this.#res as ServerResponse).addTrailers(headerObject(t))
    this.#res.end()
  }

  abort (): void {
    if (this.#ex.aborted || this.#ex.finished) return
    this.#ended = true
    if (this.#h2) {
      const stream = (this.#res as Http2ServerResponse).stream
      // RST_STREAM: only this stream is cut, the connection's others go on.
      if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR)
    } else {
      (this.#res as ServerResponse).destroy()
    }
    this.#ex.clientAborted()
  }

  reply (status: number, headers: readonly string[], body: string, close: boolean): void {
    if (this.#ex.aborted || this.#ex.finished || this.#ended) return
    this.#ended = true
    this.resumeBody()
    const h = headerObject(headers)
    h['content-length'] = String(Buffer.byteLength(body))
    if (close && !this.#h2) h.connection = 'close'
    else this.#closeHeader(h)
    const r = this.#ex.route?.responseHeaders
    if (r !== undefined) for (let i = 0; i < r.length; i += 2) h[r[i]!] = r[i + 1]!
    this.#ex.bytesSent = body.length
    if (this.#h2 && (body === '' || this.#head)) { this.#respondEmpty(status, h); return }
    const res = this.#res as ServerResponse
    res.writeHead(status, h)
    if (this.#head) res.end()
    else res.end(body)
  }
}
