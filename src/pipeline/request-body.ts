// The request body as the upstream client reads it, fed by the listener's engine: a Readable whose backpressure pauses
// the client, and which counts what arrives against the route's limit (guard/limits.ts sets it), so every engine gets
// the same max_body check on bodies whose length was not known up front (chunked).
import { Readable } from 'node:stream'

export class RequestBody extends Readable {
  readonly #resume: () => void
  #limit = Infinity
  #received = 0

  /** `resume`: the reader wants more; the engine reads the client again (it paused when push returned false). */
  constructor (highWaterMark: number, resume: () => void) {
    super({ highWaterMark })
    this.#resume = resume
  }

  override _read (): void {
    this.#resume()
  }

  /** Bytes received so far. */
  get received (): number {
    return this.#received
  }

  /** Most bytes accepted (the route's max_body); set before the first chunk can arrive. */
  limit (bytes: number): void {
    this.#limit = bytes
  }

  /**
   * Counts `bytes` more arriving; false once the total is past the limit (the engine then ends the exchange with
   * Exchange.bodyRefused and pushes nothing more).
   */
  accepts (bytes: number): boolean {
    this.#received += bytes
    return this.#received <= this.#limit
  }
}
