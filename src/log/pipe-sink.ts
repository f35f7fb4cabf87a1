// Log pieces to a pipe or a socket (stdout under docker, systemd or a shell pipeline): one write(2) per piece from
// the event loop, no thread pool, and a reader that falls behind costs lines, not the worker's memory.
import { Buffer } from 'node:buffer'
import { writeSync } from 'node:fs'

/**
 * While the reader is behind, the queue is tried again after 1 ms; after each try that wrote nothing the wait
 * doubles, up to 64 ms, and a try that wrote something brings it back to 1 ms (a reader that is slow but reading
 * empties a 64 KiB pipe in well under 64 ms).
 */
const FIRST_RETRY_MS = 1
const LAST_RETRY_MS = 64
/** How long an exiting process waits for a reader that is behind before it gives up on the rest. */
const EXIT_WAIT_MS = 2000

export interface PipeSinkOptions {
  /** Bytes that may wait while the reader is behind; a piece that would go over is dropped. */
  readonly limit: number
  /** The sink is done with `n` more bytes, in the order it was given them: written, or dropped. */
  readonly onDone?: (n: number) => void
}

/**
 * Writes each piece with one write(2) as it comes. On a pipe, a write of up to PIPE_BUF (4 KiB) is all or nothing, so
 * the pieces of workers sharing stdout never interleave; and the write only copies into the pipe. Before, pieces went
 * through libuv's thread pool (sonic-boom's asynchronous mode, one write in flight, each a round trip): at ~7 MB/s of
 * access lines (the 100 B bench at 15k req/s) it fell behind, its queue grew by ~5 MB a second, and the worker lost
 * two fifths of its rate.
 *
 * When the pipe is full (EAGAIN: stdout is non-blocking once Node has made process.stdout), pieces wait in order and
 * are retried on a backing-off timer, up to `limit` bytes; a piece beyond that is dropped, and once the reader has
 * caught up a warning line says how many lines were lost. A descriptor in blocking mode blocks instead, as nginx's
 * access_log does. A descriptor that fails otherwise (EPIPE: nobody reads any more) drops everything from then on.
 */
export class PipeSink {
  readonly #fd: number
  readonly #limit: number
  readonly #onDone: (n: number) => void
  readonly #queue: Buffer[] = []
  /** Bytes of the first queued piece already written (a socket may take part of one). */
  #offset = 0
  /** Bytes waiting in the queue. */
  #queued = 0
  /** Lines dropped since the last warning. */
  #dropped = 0
  /** The queued warning line, ours rather than the caller's (no onDone for it). */
  #notice: Buffer | null = null
  #broken = false
  #timer: NodeJS.Timeout | null = null
  #delay = FIRST_RETRY_MS
  readonly #retry = (): void => { this.#timer = null; this.#drain() }

  constructor (fd: number, { limit, onDone = () => {} }: PipeSinkOptions) {
    this.#fd = fd
    this.#limit = limit
    this.#onDone = onDone
  }

  /** Lines dropped and not yet reported. */
  get dropped (): number {
    return this.#dropped
  }

  /** Bytes waiting for the reader. */
  get queued (): number {
    return this.#queued
  }

  write (piece: Buffer): void {
    if (this.#queue.length === 0 && !this.#broken) {
      const n = this.#try(piece, 0)
      if (n === piece.length) { this.#done(piece); return }
      if (this.#broken) { this.#drop(piece); return }
      this.#offset = n
      this.#enqueue(piece)
      this.#later(true)
      return
    }
    if (this.#broken || this.#queued + piece.length > this.#limit) { this.#drop(piece); return }
    this.#enqueue(piece)
  }

  /** Writes what waits, waiting up to 2 s for the reader (the process is exiting). */
  flushSync (): void {
    const deadline = Date.now() + EXIT_WAIT_MS
    const nap = new Int32Array(new SharedArrayBuffer(4))
    while (!this.#drain() && Date.now() < deadline) Atomics.wait(nap, 0, 0, 10)
  }

  #enqueue (piece: Buffer): void {
    this.#queue.push(piece)
    this.#queued += piece.length
  }

  /** Bytes written of `piece` from `offset`: 0 when the pipe is full; marks the sink broken on any other failure. */
  #try (piece: Buffer, offset: number): number {
    try {
      return writeSync(this.#fd, piece, offset, piece.length - offset)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') this.#broken = true
      return 0
    }
  }

  #drop (piece: Buffer): void {
    if (piece !== this.#notice) for (let at = piece.indexOf(10); at !== -1; at = piece.indexOf(10, at + 1)) this.#dropped++
    this.#done(piece)
  }

  #done (piece: Buffer): void {
    if (piece === this.#notice) this.#notice = null
    else this.#onDone(piece.length)
  }

  /** Tries the queue again: in 1 ms when `soon` (a first wait, or the last try wrote something), else backing off. */
  #later (soon: boolean): void {
    if (this.#timer !== null) return
    this.#delay = soon ? FIRST_RETRY_MS : Math.min(this.#delay * 2, LAST_RETRY_MS)
    this.#timer = setTimeout(this.#retry, this.#delay)
    this.#timer.unref()
  }

  /** Writes queued pieces while the pipe takes them; true when nothing waits any more. */
  #drain (): boolean {
    const queue = this.#queue
    let progress = false
    while (queue.length > 0) {
      const head = queue[0]!
      if (this.#broken) {
        this.#drop(head)
      } else {
        const n = this.#try(head, this.#offset)
        this.#offset += n
        if (n > 0) progress = true
        if (this.#offset < head.length) {
          if (!this.#broken) { this.#later(progress); return false }
          this.#drop(head)
        } else {
          this.#done(head)
        }
      }
      queue.shift()
      this.#queued -= head.length
      this.#offset = 0
    }
    if (this.#dropped === 0 || this.#broken) return true
    // The reader has caught up: one line, in pino's shape at level warn, says how many were lost.
    this.#notice = Buffer.from(`${JSON.stringify({ level: 40, time: new Date().toISOString(), pid: process.pid, dropped: this.#dropped, msg: 'log lines dropped: stdout was not read fast enough' })}\n`)
    this.#dropped = 0
    this.#enqueue(this.#notice)
    return this.#drain()
  }
}
