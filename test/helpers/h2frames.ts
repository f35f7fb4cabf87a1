// Raw HTTP/2 over a plain socket (h2c with prior knowledge, RFC 9113 §3.4), for tests that must send what a well-behaved
// client never would: floods, resets, oversized header lists. Frames are encoded and decoded here; header blocks are
// encoded as HPACK literals without indexing and without Huffman (RFC 7541 §6.2.2), and never decoded.
import { connect, type Socket } from 'node:net'
import { once } from 'node:events'

export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const
export const SETTING = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5, MAX_HEADER_LIST_SIZE: 6 } as const
export const ERROR = {
  NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, SETTINGS_TIMEOUT: 4, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, CONNECT_ERROR: 10, ENHANCE_YOUR_CALM: 11, INADEQUATE_SECURITY: 12, HTTP_1_1_REQUIRED: 13
} as const

/** An error code's name, for assertion messages. */
export function errorName (code: number): string {
  return Object.entries(ERROR).find(([, v]) => v === code)?.[0] ?? `0x${code.toString(16)}`
}

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')

export interface Frame {
  readonly type: number
  readonly flags: number
  readonly stream: number
  readonly payload: Buffer
}

export function frame (type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9)
  head.writeUIntBE(payload.length, 0, 3)
  head[3] = type
  head[4] = flags
  head.writeUInt32BE(stream & 0x7fffffff, 5)
  return Buffer.concat([head, payload])
}

export function settingsFrame (values: Readonly<Record<number, number>> = {}, ack = false): Buffer {
  const entries = Object.entries(values)
  const p = Buffer.alloc(entries.length * 6)
  entries.forEach(([id, v], i) => {
    p.writeUInt16BE(Number(id), i * 6)
    p.writeUInt32BE(v, i * 6 + 2)
  })
  return frame(FRAME.SETTINGS, ack ? FLAG.ACK : 0, 0, p)
}

export function rstStreamFrame (stream: number, code: number): Buffer {
  const p = Buffer.alloc(4)
  p.writeUInt32BE(code)
  return frame(FRAME.RST_STREAM, 0, stream, p)
}

export function windowUpdateFrame (stream: number, increment: number): Buffer {
  const p = Buffer.alloc(4)
  p.writeUInt32BE(increment)
  return frame(FRAME.WINDOW_UPDATE, 0, stream, p)
}

export function pingFrame (data = Buffer.alloc(8), ack = false): Buffer {
  return frame(FRAME.PING, ack ? FLAG.ACK : 0, 0, data)
}

/** An HPACK integer with an n-bit prefix (RFC 7541 §5.1); the prefix's high bits are `first`. */
function hpackInt (value: number, n: number, first = 0): Buffer {
  const max = (1 << n) - 1
  if (value < max) return Buffer.from([first | value])
  const out = [first | max]
  let v = value - max
  while (v >= 128) {
    out.push((v & 127) | 128)
    v >>= 7
  }
  out.push(v)
  return Buffer.from(out)
}

/** A header block of literal fields without indexing, new names, no Huffman (RFC 7541 §6.2.2). */
export function headerBlock (fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = []
  for (const [name, value] of fields) {
    const n = Buffer.from(name)
    const v = Buffer.from(value)
    parts.push(Buffer.from([0]), hpackInt(n.length, 7), n, hpackInt(v.length, 7), v)
  }
  return Buffer.concat(parts)
}

/** The pseudo-headers of a GET to `path` on `authority`, then `extra`. */
export function requestFields (authority: string, path = '/', extra: ReadonlyArray<readonly [string, string]> = []): Array<readonly [string, string]> {
  return [[':method', 'GET'], [':scheme', 'http'], [':authority', authority], [':path', path], ...extra]
}

export function headersFrame (stream: number, block: Buffer, o: { endStream?: boolean, endHeaders?: boolean } = {}): Buffer {
  const flags = (o.endStream !== false ? FLAG.END_STREAM : 0) | (o.endHeaders !== false ? FLAG.END_HEADERS : 0)
  return frame(FRAME.HEADERS, flags, stream, block)
}

export function settingsOf (f: Frame): Map<number, number> {
  const m = new Map<number, number>()
  for (let i = 0; i + 6 <= f.payload.length; i += 6) m.set(f.payload.readUInt16BE(i), f.payload.readUInt32BE(i + 2))
  return m
}

/** The error code of a RST_STREAM or GOAWAY frame. */
export function errorCodeOf (f: Frame): number {
  return f.type === FRAME.GOAWAY ? f.payload.readUInt32BE(4) : f.payload.readUInt32BE(0)
}

/** A GOAWAY's last stream id. */
export function lastStreamOf (f: Frame): number {
  return f.payload.readUInt32BE(0) & 0x7fffffff
}

/** Splits a byte stream into frames. */
export class FrameReader {
  #buf: Buffer = Buffer.alloc(0)
  push (chunk: Buffer): Frame[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk])
    const out: Frame[] = []
    while (this.#buf.length >= 9) {
      const len = this.#buf.readUIntBE(0, 3)
      if (this.#buf.length < 9 + len) break
      out.push({ type: this.#buf[3]!, flags: this.#buf[4]!, stream: this.#buf.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(this.#buf.subarray(9, 9 + len)) })
      this.#buf = this.#buf.subarray(9 + len)
    }
    return out
  }
}

export interface H2ClientOptions {
  /** The client's SETTINGS after the preface. */
  readonly settings?: Readonly<Record<number, number>>
  /** ACK the server's SETTINGS (default true), as a client must before the server's settings take effect. */
  readonly ackSettings?: boolean
}

/**
 * A raw HTTP/2 connection: the client preface and SETTINGS are sent at connect, every frame received is kept in
 * `frames`, and `closed` resolves when the server closes the connection (or it errors, e.g. ECONNRESET).
 */
export class H2Client {
  readonly socket: Socket
  readonly frames: Frame[] = []
  /** Bytes the server sent. */
  received = 0
  /** Bytes written, and frames sent by send(). */
  sent = 0
  /** The connection is gone (closed, reset, or destroyed here). */
  get ended (): boolean { return this.#closed || this.socket.destroyed }
  #closed = false
  readonly closed: Promise<void>
  readonly #reader = new FrameReader()
  #waiters: Array<() => void> = []

  private constructor (socket: Socket, o: H2ClientOptions) {
    this.socket = socket
    socket.on('error', () => {})
    this.closed = new Promise((resolve) => { socket.once('close', () => { this.#closed = true; this.#wake(); resolve() }) })
    socket.on('data', (d: Buffer) => {
      this.received += d.length
      for (const f of this.#reader.push(d)) {
        this.frames.push(f)
        if (f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0 && o.ackSettings !== false && !socket.destroyed) socket.write(settingsFrame({}, true))
      }
      this.#wake()
    })
  }

  static async connect (port: number, o: H2ClientOptions = {}): Promise<H2Client> {
    const socket = connect(port, '127.0.0.1')
    await once(socket, 'connect')
    const c = new H2Client(socket, o)
    c.send(Buffer.concat([PREFACE, settingsFrame(o.settings ?? {})]))
    return c
  }

  #wake (): void {
    const w = this.#waiters
    this.#waiters = []
    for (const f of w) f()
  }

  /**
   * Waits for the server's SETTINGS (acknowledged at once): after it, frames sent are not interleaved with the ACK, which
   * matters inside a header block (RFC 9113 §6.10: only CONTINUATION may follow a HEADERS without END_HEADERS).
   */
  async ready (timeoutMs = 10_000): Promise<Map<number, number>> {
    const f = await this.waitFrame((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0, 'the server SETTINGS', timeoutMs)
    if (f === null) throw new Error('the server closed before its SETTINGS')
    return settingsOf(f)
  }

  /** Writes bytes unless the connection is gone; false once it is. */
  send (bytes: Buffer): boolean {
    if (this.ended) return false
    this.sent += bytes.length
    return this.socket.write(bytes)
  }

  /** Writes and waits for the socket to take the bytes (so floods go at the pace the server reads them). */
  async sendPaced (bytes: Buffer): Promise<boolean> {
    if (this.send(bytes)) return true
    if (this.ended) return false
    // once() rejects on 'error' (EPIPE, ECONNRESET when the server cut us): that is a close too.
    await Promise.race([once(this.socket, 'drain').catch(() => {}), this.closed])
    return !this.ended
  }

  /** The first frame received matching `match`, waiting up to `timeoutMs`; null when the connection closed first. */
  async waitFrame (match: (f: Frame) => boolean, what: string, timeoutMs = 10_000): Promise<Frame | null> {
    const end = Date.now() + timeoutMs
    for (;;) {
      const f = this.frames.find(match)
      if (f !== undefined) return f
      if (this.ended) return null
      const left = end - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for ${what}; frames: ${this.describe()}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** Waits for the server to close the connection, up to `timeoutMs`. */
  async waitClosed (what: string, timeoutMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((resolve, reject) => { timer = setTimeout(() => { reject(new Error(`timed out waiting for ${what}; frames: ${this.describe()}`)) }, timeoutMs) })
    try { await Promise.race([this.closed, timeout]) } finally { clearTimeout(timer) }
  }

  /** A short list of the frames received by type, for messages. */
  describe (): string {
    const names = Object.fromEntries(Object.entries(FRAME).map(([k, v]) => [v, k]))
    const counts = new Map<string, number>()
    for (const f of this.frames) counts.set(names[f.type] ?? String(f.type), (counts.get(names[f.type] ?? String(f.type)) ?? 0) + 1)
    return [...counts].map(([k, v]) => `${k}×${v}`).join(' ') + (this.ended ? ' (closed)' : '')
  }

  destroy (): void {
    this.socket.destroy()
  }
}
