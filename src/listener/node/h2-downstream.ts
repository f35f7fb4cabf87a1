// The client side of one HTTP/2 exchange on the node engine, written with node:http2's stream API (respond, write,
// end, sendTrailers) rather than its compatibility layer: a bare node:http2 server answers 100 B at 20,300 req/s that
// way and 14,900 through the compatibility objects (h2load -c 16 -m 10, one core; README "Engines and HTTP/2").
import { Buffer } from 'node:buffer'
import { constants, type Http2Session, type ServerHttp2Stream, type OutgoingHttpHeaders } from 'node:http2'
import { copyView, releaseOnWrite } from '../../net/index.ts'
import type { Downstream, Exchange, PeerAddress } from '../../pipeline/index.ts'
import { headerObject } from './downstream.ts'
import { NodeSide } from './node-side.ts'
import { peerOf } from './proxy-protocol.ts'

/**
 * Each session's peer address, read once: `session.socket` is a Proxy and the address then needs normalising, which
 * is work per stream on a connection that carries hundreds.
 */
const peers = new WeakMap<Http2Session, string>()

export class H2Downstream extends NodeSide implements Downstream, PeerAddress {
  readonly #stream: ServerHttp2Stream
  /** The client sent `TE: trailers` (gRPC clients do). */
  readonly #takesTrailers: boolean
  /**
   * The response was opened so that trailers can follow it: the client asked for them, or the answer's length is
   * unknown (a streamed answer, as gRPC's and any HTTP/2 backend's that has trailers). An answer with a length (nearly
   * every answer from an HTTP/1.1 backend, whose trailers the upstream client does not keep) ends with its last DATA
   * frame instead of an extra empty one.
   */
  #trailersOpen = false
  /** The stream's writable side was ended with the last chunk (write). */
  #bodyDone = false
  /** A 'drain' listener waits: added when a write is refused, not on every stream (most answers fit the window). */
  #drainArmed = false

  constructor (stream: ServerHttp2Stream, head: boolean, takesTrailers: boolean) {
    super(stream, head)
    this.#stream = stream
    this.#takesTrailers = takesTrailers
  }

  /** Binds the exchange: the stream's writable side finishing after our end completes it; a close before is an abort. */
  attach (ex: Exchange): void {
    this.ex = ex
    const stream = this.#stream
    stream.once('finish', () => { if (this.ended) ex.completed() })
    stream.once('close', () => { if (!ex.finished) ex.clientAborted() })
  }

  remoteAddress (): string {
    const session = this.#stream.session
    if (session === undefined) return ''
    let peer = peers.get(session)
    if (peer === undefined) {
      peer = peerOf(session.socket ?? undefined)
      if (peer !== '') peers.set(session, peer) // '' once the socket is gone: nothing to keep
    }
    return peer
  }

  #fields (status: number, flat: readonly (string | Uint8Array)[], length: number): OutgoingHttpHeaders {
    const h: OutgoingHttpHeaders = headerObject(flat)
    h[':status'] = status
    if (length >= 0 && status !== 204 && status !== 304) h['content-length'] = length
    const r = this.ex.route?.responseHeaders
    if (r !== undefined) for (let i = 0; i < r.length; i += 2) h[r[i]!] = r[i + 1]!
    return h
  }

  /** Sends the head; `last`: nothing follows it (one HEADERS frame with END_STREAM: a trailers-only gRPC answer). */
  #respond (last: boolean): void {
    this.headWritten = true
    const stream = this.#stream
    if (stream.destroyed) return
    const h = this.#fields(this.status, this.fields, this.length)
    if (last) { stream.respond(h, { endStream: true }); return }
    this.#trailersOpen = this.#takesTrailers || this.length < 0
    if (this.#trailersOpen) {
      stream.once('wantTrailers', () => {
        const t = this.trailerFields
        // No trailers after all: node ends the stream with an empty DATA frame.
        stream.sendTrailers(t === null ? {} : headerObject(t))
      })
    }
    stream.respond(h, { waitForTrailers: this.#trailersOpen })
  }

  write (chunk: Uint8Array): boolean {
    if (this.ex.aborted || this.ended) return true
    if (!this.headWritten) this.#respond(false)
    if (this.head || this.#stream.destroyed) return true
    this.written += chunk.length
    // A copy: the chunk is only lent for this call (the upstream client reads into one shared buffer). Large ones are
    // pooled and come back once the session has written them (net/body-buffers.ts). The last bytes of an answer with
    // a length end the stream with them: one DATA frame with END_STREAM, not a second empty one.
    const copy = copyView(chunk)
    if (this.written === this.length && !this.#trailersOpen) {
      this.#bodyDone = true
      this.#stream.end(copy, releaseOnWrite(copy))
      return true
    }
    if (this.#stream.write(copy, releaseOnWrite(copy))) return true
    if (!this.#drainArmed) {
      this.#drainArmed = true
      this.#stream.once('drain', () => {
        this.#drainArmed = false
        this.onDrain?.()
      })
    }
    return false
  }

  end (): void {
    if (this.ex.aborted || this.ended || this.ex.finished) return
    this.ended = true
    this.resumeBody()
    if (this.shortBody()) {
      // The backend sent fewer bytes than its Content-Length: the client sees a reset stream, never a short body.
      this.abort()
      return
    }
    const t = this.trailerFields
    if (!this.headWritten) {
      if (t === null || t.length === 0) { this.#respond(true); return }
      this.#respond(false)
    }
    if (!this.#stream.destroyed && !this.#bodyDone) this.#stream.end()
  }

  abort (): void {
    if (this.ex.aborted || this.ex.finished) return
    this.ended = true
    // RST_STREAM: only this stream is cut, the connection's others go on.
    if (!this.#stream.destroyed) this.#stream.close(constants.NGHTTP2_INTERNAL_ERROR)
    this.ex.clientAborted()
  }

  reply (status: number, headers: readonly string[], body: string, _close: boolean): void {
    if (this.ex.aborted || this.ex.finished || this.ended) return
    this.ended = true
    this.resumeBody()
    this.headWritten = true
    this.ex.bytesSent = body.length
    const stream = this.#stream
    if (stream.destroyed) return
    const h = this.#fields(status, headers, Buffer.byteLength(body))
    // No body (HEAD, or a gRPC error's trailers-only answer): one HEADERS frame that ends the stream.
    if (body === '' || this.head) { stream.respond(h, { endStream: true }); return }
    stream.respond(h)
    stream.end(body)
  }
}
