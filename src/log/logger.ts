// One pino logger per process: JSON lines by default, pretty on a terminal, asynchronous batched writes.
import { Buffer } from 'node:buffer'
import { fstatSync, statSync } from 'node:fs'
import { pino, type Logger, type LevelWithSilent } from 'pino'
import { PipeSink } from './pipe-sink.ts'

export type { Logger }

export interface LoggerOptions {
  level: LevelWithSilent
  /** Human-readable output; default: only when stdout is a TTY. */
  pretty?: boolean | undefined
  /** Fields on every line, e.g. `{ role: 'worker', worker: 3 }`. */
  base?: Record<string, unknown>
  /**
   * How long an access line may wait to share a write with the next ones (a write, and a thread-pool round trip, per
   * few lines cost about a fifth of the 100 B rate); other lines always leave at the end of the event-loop turn.
   */
  holdMs?: number
  /** Write to this file (appending) instead of stdout; see `reopen`. */
  file?: string | undefined
}

/** A logger writing to a file, and how to reopen the file after logrotate moved it. */
export interface FileLogger {
  readonly log: Logger
  /** Writes what is pending, then reopens the file by name (a new file if it was moved away). */
  reopen (): void
}

/** Linux's PIPE_BUF: writes up to this size on a pipe are atomic. */
const PIPE_BUF = 4096
/** The most one write to a regular file holds. */
const FILE_WRITE = 64 * 1024
/**
 * Bytes of log lines a worker keeps for a stdout pipe whose reader is behind, before it drops lines: about two
 * seconds of access lines at 15k requests a second.
 */
const PIPE_QUEUE = 16 * 1024 * 1024
/** The smallest buffer a piece starts in. */
const MIN_PIECE = 1024
/** Buffers of pieces being written kept for reuse: enough for a FIFO's writes in flight through the thread pool. */
const MAX_HANDED = 8

/**
 * Collects lines and writes them together in pieces of at most `max` bytes of whole lines, as soon as a piece is
 * full. A line from `write` (pino's) goes out at the end of the event-loop turn that logged it; a line from `hold`
 * (the access lines) may wait up to `holdMs` for company, as with nginx's `access_log … buffer=4k flush=…`. A write
 * per line cost the 100 B bench about a quarter of its rate with the access log on (issue 14). Lines keep their order.
 *
 * Each line is encoded into the piece's buffer as it comes, and pieces go out as bytes (sonic-boom's `buffer` mode).
 * Kept as strings, the lines of a piece lived up to `holdMs`, long enough for scavenges to copy them and promote them,
 * and the piece was a rope of thousands of strings that sonic-boom measured (a flattening pass) and then encoded: in a
 * profile of the 100 B bench with the access log on, 12% of the worker's time went to the access log, 3.7% of it to
 * flattening that rope. Encoded at once, a line dies young and its bytes sit outside the JS heap.
 *
 * A piece's buffer is the destination's until it reports every byte of it written (`written`, sonic-boom's 'write'
 * event); then it takes the next piece's lines. A synchronous destination (a regular file) has written a piece by the
 * time `write` returns, so one buffer serves every piece, instead of a new one per piece for V8 to account as external
 * memory and collect. A destination that never reports, or fails a write, gets a new buffer per piece.
 */
export class LineBatch {
  readonly #out: { write (piece: Buffer): unknown }
  readonly #max: number
  readonly #holdMs: number
  /** The piece being filled (null until a line comes after a write). */
  #buf: Buffer | null = null
  /** Bytes of #buf in use. */
  #size = 0
  /** Bytes of the last piece written: the next piece's buffer starts at twice that. */
  #last = 0
  /** Bytes handed to the destination, and how many of them it has reported written, in order. */
  #handed = 0
  #written = 0
  /**
   * Buffers of the last pieces handed over, oldest first, each with the count of handed bytes at its end: a buffer is
   * free again once the destination has written that many.
   */
  readonly #handedBufs: Buffer[] = []
  readonly #handedEnds: number[] = []
  #soon = false
  #later = false
  readonly #flushSoon = (): void => { this.#soon = false; this.flush() }
  readonly #flushLater = (): void => { this.#later = false; this.flush() }

  constructor (out: { write (piece: Buffer): unknown }, max: number, holdMs = 0) {
    this.#out = out
    this.#max = max
    this.#holdMs = holdMs
  }

  write (line: string): boolean {
    this.#add(line)
    if (!this.#soon) {
      this.#soon = true
      setImmediate(this.#flushSoon)
    }
    return true
  }

  /** A line that may wait up to holdMs to share a write (0: as `write`). */
  hold (line: string): void {
    if (this.#holdMs === 0) { this.write(line); return }
    this.#add(line)
    if (!this.#later && !this.#soon) {
      this.#later = true
      setTimeout(this.#flushLater, this.#holdMs).unref()
    }
  }

  #add (line: string): void {
    const buf = this.#buf
    // A UTF-16 code unit is at most 3 bytes of UTF-8: only a line that might not fit is measured.
    if (buf === null || buf.length - this.#size < line.length * 3) {
      const n = Buffer.byteLength(line)
      if (this.#size + n > this.#max) {
        this.flush()
        // Longer than a piece: it goes alone, now (what came before it went just above).
        if (n > this.#max) {
          const alone = Buffer.from(line, 'utf8')
          this.#handed += alone.length
          this.#out.write(alone)
          return
        }
      }
      this.#room(n)
    }
    this.#size += (this.#buf as Utf8Writable).utf8Write(line, this.#size)
  }

  /**
   * Makes room for `n` more bytes (the piece stays within `max`). A new piece starts at twice the last one's size, so
   * a steady stream of access lines fills 64 KiB pieces while a warning now and then takes a small buffer, not 64 KiB.
   */
  #room (n: number): void {
    const buf = this.#buf
    const need = this.#size + n
    if (buf !== null && buf.length >= need) return
    if (buf === null) {
      const bufs = this.#handedBufs
      while (bufs.length > 0 && this.#handedEnds[0]! <= this.#written) {
        const free = bufs.shift()!
        this.#handedEnds.shift()
        if (free.length >= need) { this.#buf = free; return }
      }
    }
    const size = Math.min(this.#max, Math.max(need, MIN_PIECE, buf === null ? this.#last * 2 : buf.length * 2))
    const grown = Buffer.allocUnsafeSlow(size)
    if (buf !== null) buf.copy(grown, 0, 0, this.#size)
    this.#buf = grown
  }

  flush (): void {
    const buf = this.#buf
    if (buf === null || this.#size === 0) return
    const piece = buf.subarray(0, this.#size)
    this.#last = this.#size
    this.#buf = null
    this.#size = 0
    this.#handed += piece.length
    this.#handedBufs.push(buf)
    this.#handedEnds.push(this.#handed)
    // A destination that stopped reporting (a failed write) keeps none of them alive for long.
    if (this.#handedBufs.length > MAX_HANDED) { this.#handedBufs.shift(); this.#handedEnds.shift() }
    this.#out.write(piece)
  }

  /** The destination reports `n` more bytes written, in the order they were handed (sonic-boom's 'write' event). */
  written (n: number): void {
    this.#written += n
  }
}

/**
 * Buffer's own UTF-8 encoder, which `buf.write(s, offset)` calls after checking its arguments (Node 20 and 24 alike;
 * not in @types/node). The caller has made sure the whole string fits.
 */
interface Utf8Writable extends Buffer { utf8Write (s: string, offset: number): number }

/** A JSON logger appending to `file` (created with its folder if missing), with the same batching as stdout's. */
export function createFileLogger ({ level, base = {}, holdMs = 0, file }: LoggerOptions & { file: string }): FileLogger {
  // As stdout (createLogger): a regular file (or one not yet made) takes synchronous writes of up to 64 KiB; each
  // worker opens it with O_APPEND, so every write lands whole at the end. A FIFO gets 4 KiB through the thread pool.
  const { sync, max } = pathWrites(file)
  const sonic = pino.destination({ dest: file, append: true, mkdir: true, sync, minLength: 0, maxWrite: max, contentMode: 'buffer' })
  const dest = batchTo(sonic, max, holdMs)
  const log = pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime }, dest)
  process.once('exit', () => { try { dest.flush(); sonic.flushSync() } catch {} })
  return {
    log,
    reopen () {
      dest.flush()
      sonic.reopen()
    }
  }
}

export function createLogger ({ level, pretty, base = {}, holdMs = 0 }: LoggerOptions): Logger {
  const usePretty = pretty ?? process.stdout.isTTY === true
  if (usePretty) {
    return pino({ level, base }, pino.transport({ target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } }))
  }
  // Workers share stdout, and only writes up to PIPE_BUF (4 KiB) on a pipe never interleave: every write to a pipe
  // or socket holds at most 4 KiB of whole lines (a longer line goes alone), each one write(2) from the event loop
  // that never waits for a reader that is behind (pipe-sink.ts). On a regular file every write(2) is whole (the
  // kernel holds the file position's lock for it), and a write only copies into the page cache, as nginx's
  // access_log does: batches of up to 64 KiB go synchronously.
  const { sync, max } = writesTo(1)
  if (!sync) {
    // Node's own stdout stream puts a pipe in non-blocking mode: made here, so that a reader that is behind makes
    // writes wait in the sink's queue rather than block the worker (and the same whichever process made it first).
    void process.stdout
    const dest: LineBatch = new LineBatch({ write (piece) { sink.write(piece) } }, max, holdMs)
    const sink = new PipeSink(1, { limit: PIPE_QUEUE, onDone: (n) => { dest.written(n) } })
    process.once('exit', () => { try { dest.flush(); sink.flushSync() } catch {} })
    return pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime }, dest)
  }
  const sonic = pino.destination({ dest: 1, sync, minLength: 0, maxWrite: max, contentMode: 'buffer' })
  const dest = batchTo(sonic, max, holdMs)
  const log = pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime }, dest)
  process.once('exit', () => { try { dest.flush(); sonic.flushSync() } catch {} })
  return log
}

/** A LineBatch writing to sonic-boom, which reports each write's bytes so that written pieces' buffers are reused. */
function batchTo (sonic: ReturnType<typeof pino.destination>, max: number, holdMs: number): LineBatch {
  const dest = new LineBatch(sonic as unknown as { write (piece: Buffer): unknown }, max, holdMs)
  sonic.on('write', (n: number) => { dest.written(n) })
  return dest
}

function pathWrites (file: string): { sync: boolean, max: number } {
  try {
    if (!statSync(file).isFile()) return { sync: false, max: PIPE_BUF }
  } catch {}
  return { sync: true, max: FILE_WRITE }
}

/** How log lines are written to `fd`: in pieces of up to 64 KiB to a regular file, else (a pipe, a socket) of 4 KiB. */
export function writesTo (fd: number): { sync: boolean, max: number } {
  let file = false
  try { file = fstatSync(fd).isFile() } catch {}
  return file ? { sync: true, max: FILE_WRITE } : { sync: false, max: PIPE_BUF }
}
