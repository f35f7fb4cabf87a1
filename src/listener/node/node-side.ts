// What the node engine's two downstreams share (HTTP/1.x: downstream.ts, HTTP/2: h2-downstream.ts): the answer's
// parts as the upstream stage gives them, and the request body's flow from a Readable (an IncomingMessage or an
// HTTP/2 stream), paused while the backend is slower than the client.
import type { Readable } from 'node:stream'
import type { Exchange } from '../../pipeline/index.ts'
import type { BodyFeed } from '../body-timeout.ts'

const NO_EXCHANGE = null as unknown as Exchange

export abstract class NodeSide implements BodyFeed {
  onDrain: (() => void) | null = null
  protected readonly source: Readable
  /** The request is a HEAD: the answer has a length but no body. */
  protected readonly head: boolean
  protected ex: Exchange = NO_EXCHANGE
  protected status = 0
  protected fields: readonly (string | Uint8Array)[] = []
  protected trailerFields: readonly string[] | null = null
  /** The answer's body length, or -1 (unknown: chunked on HTTP/1.1, DATA until END_STREAM on HTTP/2). */
  protected length = -1
  protected written = 0
  protected headWritten = false
  /** We answered (end, reply) or cut: nothing more is written, and the body is no longer wanted. */
  protected ended = false
  #bodyPaused = false

  constructor (source: Readable, head: boolean) {
    this.source = source
    this.head = head
  }

  /**
   * Nobody answered or aborted yet. Not only the exchange's `finished`: node reports that a tick after `end`, and body
   * bytes arriving in between must not pause the client again (it would never be resumed).
   */
  get wantsBody (): boolean {
    return !this.ended && !this.ex.aborted && !this.ex.finished
  }

  /** Reading the client's body is paused by us (its backend is slower), not stalled by the client. */
  get bodyPaused (): boolean {
    return this.#bodyPaused
  }

  /** Stops reading the body (on HTTP/2 node then withholds WINDOW_UPDATE and the client's window runs out). */
  pauseBody (): void {
    if (this.#bodyPaused || this.ended) return
    this.#bodyPaused = true
    this.source.pause()
  }

  /** Reads the client again; also before an answer ends, so node can read (and drop) the rest of an unwanted body. */
  resumeBody (): void {
    if (!this.#bodyPaused) return
    this.#bodyPaused = false
    this.source.resume()
  }

  /** Starts the response; nothing is sent until the first write or end. */
  start (status: number, headers: readonly (string | Uint8Array)[], length: number): void {
    this.status = status
    this.fields = headers
    this.length = length
  }

  /** Trailer fields to send after the body (flat `[name, value, …]`), where the protocol and the answer allow. */
  trailers (fields: readonly string[]): void {
    this.trailerFields = fields
  }

  /** The answer's body fell short of its Content-Length: the client must see a cut, never a short body. */
  protected shortBody (): boolean {
    const s = this.status
    return !this.head && this.length > 0 && this.written < this.length && s !== 204 && s !== 304
  }
}
