// A strict, incremental HTTP/1.1 response parser (RFC 9112) for the upstream client. It reads from whatever buffer
// the socket filled, hands body bytes on as views of it, and refuses anything ambiguous: a response a proxy frames
// differently from its backend is how requests get smuggled, so every doubt is an error, never a guess.

import { Buffer } from 'node:buffer'

/** Most bytes of a response head (status line and fields) or of a trailer section. */
export const MAX_HEAD_BYTES = 16 * 1024

/** What the parser tells its owner as a response goes by. Body chunks are views: valid only during the call. */
export interface ParserSink {
  /** A final (2xx-5xx) response head; `headers` is flat `[name, value, …]`, views of one copy of the head. */
  onHead (status: number, headers: Buffer[]): void
  /** Body bytes. False: stop here; `execute` returns where it stopped and is called again from there. */
  onBody (chunk: Buffer): boolean
  /** The response is complete (its framing said so, or the connection closed on a close-delimited body). */
  onEnd (): void
  /**
   * Optional: a response whose whole body arrived with its head or in one read (a length-framed one) comes here
   * instead of onHead + onBody, so it can go to the client in one piece; onEnd follows.
   */
  onWhole? (status: number, headers: Buffer[], body: Buffer): void
}

// States.
const HEAD = 0
const BODY_LENGTH = 1
const CHUNK_SIZE = 2
const CHUNK_EXT = 3
const CHUNK_SIZE_LF = 4
const CHUNK_DATA = 5
const CHUNK_DATA_CR = 6
const CHUNK_DATA_LF = 7
const TRAILERS = 8
const BODY_CLOSE = 9
const DONE = 10
const FAILED = 11

const CR = 13
const LF = 10
const SP = 32
const HTAB = 9
const COLON = 58
const SEMI = 59

/** tchar (RFC 9110 §5.6.2). */
const TCHAR = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1
for (let c = 48; c <= 57; c++) TCHAR[c] = 1
for (let c = 65; c <= 90; c++) TCHAR[c] = 1
for (let c = 97; c <= 122; c++) TCHAR[c] = 1

/** field-vchar, SP and HTAB (RFC 9110 §5.5): what a field value may hold. Everything else (NUL, CR, LF, other CTLs, DEL) is refused. */
const VCHAR = new Uint8Array(256)
VCHAR[HTAB] = 1
for (let c = 32; c < 127; c++) VCHAR[c] = 1
for (let c = 128; c < 256; c++) VCHAR[c] = 1

const HEX = new Int8Array(256).fill(-1)
for (let c = 0; c < 10; c++) HEX[48 + c] = c
for (let c = 0; c < 6; c++) { HEX[65 + c] = 10 + c; HEX[97 + c] = 10 + c }

/** A response the parser refused; `reason` says what was wrong (for logs; the client sees the code only). */
export class ResponseParseError extends Error {
  readonly code = 'UPSTREAM_BAD_RESPONSE'
}

export class ResponseParser {
  #state = HEAD
  #sink: ParserSink
  /** The request was HEAD: no response to it has a body (RFC 9110 §9.3.2). */
  #noBody = false
  /** Bytes of the current head kept across reads (a head split over several), or null. */
  #partial: Buffer | null = null
  #partialLen = 0
  /** Where the search for the head's end resumes in the current head (lines before it were checked). */
  #scanFrom = 0
  #remaining = 0
  #trailerBytes = 0
  /** Chunk-size digits seen for the current chunk. */
  #digits = 0
  /** A length-framed head held back until its body's first bytes show whether the whole body is here (onWhole). */
  #heldHead: Buffer[] | null = null
  /** Trailer section: 0 line start, 1 name, 2 value, 3 LF after a field line, 4 LF after the final CR. */
  #trailerState = 0
  /** Some byte of a response to the current request arrived. */
  #any = false
  /** The connection may carry another request after this response (HTTP/1.1 without Connection: close). */
  keepAlive = true
  /** How long the server keeps the connection open while idle (its `Keep-Alive: timeout`), or -1 if it did not say. */
  keepAliveMs = -1
  /** The status of the final response, once its head was parsed. */
  status = 0
  /** Why the last `execute` failed, or ''. */
  reason = ''

  constructor (sink: ParserSink) {
    this.#sink = sink
  }

  /** Prepares for the response to a new request on the same connection. */
  reset (sink: ParserSink, head: boolean): void {
    this.#sink = sink
    this.#state = HEAD
    this.#noBody = head
    this.#partialLen = 0
    this.#scanFrom = 0
    this.#any = false
    this.#heldHead = null
    this.keepAlive = true
    this.keepAliveMs = -1
    this.status = 0
    this.reason = ''
  }

  /** Has the response completed? */
  get done (): boolean { return this.#state === DONE }
  get failed (): boolean { return this.#state === FAILED }
  /** Has any byte of a head been seen (a reused connection closed before this is safe to retry on)? */
  get started (): boolean { return this.#any }
  /** The body runs until the connection closes. */
  get untilClose (): boolean { return this.#state === BODY_CLOSE }

  /**
   * Parses `buf[start, end)`. Returns where it stopped: `end`, or earlier when the sink asked to stop or the
   * response completed (bytes past a complete response are the caller's problem), or -1 on an error (`reason`).
   */
  execute (buf: Buffer, start: number, end: number): number {
    let pos = start
    if (pos < end) this.#any = true
    while (pos < end) {
      switch (this.#state) {
        case HEAD: {
          pos = this.#head(buf, pos, end)
          if (pos < 0) return -1
          break
        }
        case BODY_LENGTH: {
          const held = this.#heldHead
          if (held !== null) {
            this.#heldHead = null
            if (end - pos >= this.#remaining) {
              const n = this.#remaining
              this.#remaining = 0
              this.#sink.onWhole!(this.status, held, view(buf, pos, n))
              pos += n
              if (this.#state === BODY_LENGTH) this.#complete()
              return pos
            }
            this.#sink.onHead(this.status, held)
            if (this.#state !== BODY_LENGTH) return pos // the sink gave up on it
          }
          const n = Math.min(this.#remaining, end - pos)
          this.#remaining -= n
          const more = this.#sink.onBody(view(buf, pos, n))
          pos += n
          if (this.#remaining === 0) { this.#complete(); return pos }
          if (!more) return pos
          break
        }
        case BODY_CLOSE: {
          const more = this.#sink.onBody(view(buf, pos, end - pos))
          pos = end
          if (!more) return pos
          break
        }
        case CHUNK_DATA: {
          const n = Math.min(this.#remaining, end - pos)
          this.#remaining -= n
          const more = this.#sink.onBody(view(buf, pos, n))
          pos += n
          if (this.#remaining === 0) this.#state = CHUNK_DATA_CR
          if (!more) return pos
          break
        }
        case DONE:
          return pos
        case FAILED:
          return -1
        default:
          // Chunk framing and trailers: a few bytes per chunk, one at a time.
          if (!this.#framing(buf[pos]!)) return -1
          pos++
          if (this.#state === DONE) return pos
      }
    }
    return pos
  }

  /** The connection closed. Completes a close-delimited body; anything else cut short is an error (false). */
  finish (): boolean {
    if (this.#state === BODY_CLOSE) { this.#complete(); return true }
    return this.#state === DONE
  }

  #fail (reason: string): -1 {
    this.#state = FAILED
    this.reason = reason
    return -1
  }

  #complete (): void {
    this.#state = DONE
    this.#sink.onEnd()
  }

  /** Finds the head's end in `buf[pos, end)` (joined with what came before); parses it once complete. */
  #head (buf: Buffer, pos: number, end: number): number {
    let src = buf
    let from = pos
    let stop = end
    if (this.#partialLen > 0) {
      // Continue a head split across reads: append, then scan the joined bytes.
      src = this.#append(buf, pos, end)
      if (this.#partialLen > MAX_HEAD_BYTES + 4) return this.#fail('head too large')
      from = 0
      stop = this.#partialLen
    }
    let line = from + this.#scanFrom
    for (;;) {
      const nl = src.indexOf(LF, line)
      if (nl < 0 || nl >= stop) break
      if (nl === line || src[nl - 1] !== CR) return this.#fail('bare LF')
      if (nl - from > MAX_HEAD_BYTES + 4) return this.#fail('head too large')
      if (nl === line + 1) {
        // The empty line: the head is complete.
        const used = nl + 1 - from
        // Of the head, the bytes that came in this call (the rest were kept from earlier reads).
        const consumedHere = this.#partialLen > 0 ? used - (this.#partialLen - (end - pos)) : used
        const ok = this.#parseHead(src, from, from + used)
        this.#partialLen = 0
        this.#scanFrom = 0
        if (!ok) return -1
        return pos + consumedHere
      }
      line = nl + 1
    }
    if (stop - from > MAX_HEAD_BYTES + 4) return this.#fail('head too large')
    // Incomplete: keep it (the socket's buffer is reused) and resume the scan at the unfinished line.
    this.#scanFrom = line - from
    if (this.#partialLen === 0) this.#append(buf, pos, end)
    return end
  }

  #append (buf: Buffer, pos: number, end: number): Buffer {
    const n = end - pos
    let p = this.#partial
    if (p === null || p.length < this.#partialLen + n) {
      const grown = Buffer.allocUnsafe(Math.max(1024, (this.#partialLen + n) * 2))
      if (p !== null) p.copy(grown, 0, 0, this.#partialLen)
      p = this.#partial = grown
    }
    buf.copy(p, this.#partialLen, pos, end)
    this.#partialLen += n
    return p
  }

  #lineStatus = 0
  #lineMinor = 0

  /**
   * status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF (RFC 9112 §4); the space before an empty
   * reason is optional in practice. Sets #lineStatus and #lineMinor; returns where the fields start, -1 on an error.
   */
  #statusLine (h: Buffer): number {
    if (h.length < 14 || h[0] !== 72 || h[1] !== 84 || h[2] !== 84 || h[3] !== 80 || h[4] !== 47 || h[6] !== 46) return this.#fail('bad status line')
    const major = h[5]!
    const minor = h[7]!
    if (major !== 49 || (minor !== 48 && minor !== 49)) return this.#fail('unsupported HTTP version')
    if (h[8] !== SP) return this.#fail('bad status line')
    const d0 = h[9]! - 48
    const d1 = h[10]! - 48
    const d2 = h[11]! - 48
    if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return this.#fail('bad status code')
    let i = 12
    if (h[i] === SP) {
      // The reason phrase is dropped (the client gets our own), so, as llhttp does, any byte but CR and LF goes.
      i++
      while (h[i] !== CR) i++
    }
    if (h[i] !== CR || h[i + 1] !== LF) return this.#fail('bad status line')
    this.#lineStatus = d0 * 100 + d1 * 10 + d2
    this.#lineMinor = minor
    return i + 2
  }

  /** Parses a complete head `src[from, to)` (ending in CRLF CRLF); false on an error. */
  #parseHead (src: Buffer, from: number, to: number): boolean {
    // One copy per head: the fields handed on are views of it, so they outlive the reused read buffer.
    const h = Buffer.allocUnsafe(to - from)
    src.copy(h, 0, from, to)
    const n = h.length
    const ab = h.buffer
    const base = h.byteOffset
    let i = this.#statusLine(h)
    if (i === -1) return false
    const status = this.#lineStatus
    const minor = this.#lineMinor
    const headers: Buffer[] = []
    let length = -1
    let chunked = false
    let te = false
    let close = minor === 48 // HTTP/1.0 closes unless it says keep-alive
    while (i < n - 2) {
      const lineStart = i
      const c0 = h[i]!
      if (c0 === SP || c0 === HTAB) return this.#fail('obs-fold') !== -1
      while (TCHAR[h[i]!] === 1) i++
      if (i === lineStart) return this.#fail(h[i] === COLON ? 'empty field name' : 'bad field name') !== -1
      if (h[i] !== COLON) return this.#fail(h[i] === SP || h[i] === HTAB ? 'whitespace before colon' : 'field line without colon') !== -1
      const nameEnd = i
      i++
      while (h[i] === SP || h[i] === HTAB) i++
      const valueStart = i
      let valueEnd = i
      for (;;) {
        const c = h[i]!
        if (c === CR) break
        if (VCHAR[c] === 0) return this.#fail('bad character in field value') !== -1
        i++
        if (c !== SP && c !== HTAB) valueEnd = i
      }
      if (h[i + 1] !== LF) return this.#fail('bare CR') !== -1
      i += 2
      const name = Buffer.from(ab, base + lineStart, nameEnd - lineStart)
      const value = Buffer.from(ab, base + valueStart, valueEnd - valueStart)
      const nl = nameEnd - lineStart
      if (nl === 14 && equalsLower(h, lineStart, 'content-length')) {
        if (length !== -1) return this.#fail('more than one Content-Length') !== -1
        length = contentLength(h, valueStart, valueEnd)
        if (length < 0) return this.#fail('bad Content-Length') !== -1
      } else if (nl === 17 && equalsLower(h, lineStart, 'transfer-encoding')) {
        // Only `chunked` alone: any other coding would reach the client undecoded and unlabelled.
        if (te || valueEnd - valueStart !== 7 || !equalsLower(h, valueStart, 'chunked')) return this.#fail('unsupported Transfer-Encoding') !== -1
        te = true
        chunked = true
      } else if (nl === 10) {
        if (equalsLower(h, lineStart, 'connection')) {
          // Nearly every backend says `keep-alive`: that needs no list parse.
          if (valueEnd - valueStart === 10 && equalsLower(h, valueStart, 'keep-alive')) {
            if (minor === 48) close = false
          } else {
            const v = value.toString('latin1').toLowerCase()
            if (hasToken(v, 'close')) close = true
            else if (minor === 48 && hasToken(v, 'keep-alive')) close = false
          }
        } else if (equalsLower(h, lineStart, 'keep-alive')) {
          // `Keep-Alive: timeout=5` (node:http's default): the server closes idle connections after that long.
          const m = /(?:^|[\s,])timeout\s*=\s*(\d+)/i.exec(value.toString('latin1'))
          if (m !== null) this.keepAliveMs = Number(m[1]) * 1000
        }
      }
      headers.push(name, value)
    }
    if (chunked && length !== -1) return this.#fail('Content-Length with Transfer-Encoding') !== -1
    return this.#framed(status, headers, length, chunked, close)
  }

  /** What follows a well-formed head: an interim answer is skipped, a final one is handed on and its body framed. */
  #framed (status: number, headers: Buffer[], length: number, chunked: boolean, close: boolean): boolean {
    if (status < 200) {
      // Interim answers are not relayed (RFC 9110 §15.2); the final one follows. 101 would switch protocols,
      // which no request of ours asked for.
      if (status === 101) return this.#fail('unexpected 101') !== -1
      return true
    }
    this.status = status
    if (close) this.keepAlive = false
    if (length > 0 && !chunked && !this.#noBody && status !== 204 && status !== 304 && this.#sink.onWhole !== undefined) {
      // Told once the body's first bytes are seen: whole, or head then body.
      this.#heldHead = headers
      this.#state = BODY_LENGTH
      this.#remaining = length
      return true
    }
    this.#sink.onHead(status, headers)
    if (this.#state === FAILED || this.#state === DONE) return true // the sink gave up on it
    if (this.#noBody || status === 204 || status === 304) {
      this.#complete()
    } else if (chunked) {
      this.#state = CHUNK_SIZE
      this.#digits = 0
      this.#remaining = 0
      this.#trailerBytes = 0
    } else if (length >= 0) {
      if (length === 0) this.#complete()
      else { this.#state = BODY_LENGTH; this.#remaining = length }
    } else {
      // Neither length nor chunked: the body ends when the connection does (RFC 9112 §6.3, rule 8).
      this.#state = BODY_CLOSE
      this.keepAlive = false
    }
    return true
  }

  /** Stops parsing the current response (its sink no longer wants it). */
  abandon (): void {
    this.#state = FAILED
  }

  /** One byte of chunk framing or trailer section (RFC 9112 §7.1); false on an error. */
  #framing (c: number): boolean {
    switch (this.#state) {
      case CHUNK_SIZE: {
        const v = HEX[c]!
        if (v >= 0) {
          // 13 hex digits keep the size below 2^52: far past any body, still exact as a number.
          if (++this.#digits > 13) return this.#fail('chunk size too large') !== -1
          this.#remaining = this.#remaining * 16 + v
          return true
        }
        if (this.#digits === 0) return this.#fail('bad chunk size') !== -1
        if (c === CR) { this.#state = CHUNK_SIZE_LF; return true }
        if (c === SEMI) { this.#state = CHUNK_EXT; return true }
        return this.#fail('bad chunk size') !== -1
      }
      case CHUNK_EXT:
        // chunk-ext is ignored (RFC 9112 §7.1.1) but must be printable; a bare LF would reframe the body. Like
        // llhttp, no whitespace is taken between the size and the `;`.
        if (c === CR) { this.#state = CHUNK_SIZE_LF; return true }
        if (VCHAR[c] === 0) return this.#fail('bad chunk extension') !== -1
        if (++this.#trailerBytes > MAX_HEAD_BYTES) return this.#fail('chunk extension too long') !== -1
        return true
      case CHUNK_SIZE_LF:
        if (c !== LF) return this.#fail('bad chunk size line') !== -1
        this.#digits = 0
        if (this.#remaining === 0) { this.#state = TRAILERS; this.#trailerState = 0; this.#trailerBytes = 0; return true }
        this.#state = CHUNK_DATA
        return true
      case CHUNK_DATA_CR:
        if (c !== CR) return this.#fail('chunk data not followed by CRLF') !== -1
        this.#state = CHUNK_DATA_LF
        return true
      case CHUNK_DATA_LF:
        if (c !== LF) return this.#fail('chunk data not followed by CRLF') !== -1
        this.#state = CHUNK_SIZE
        this.#trailerBytes = 0
        return true
      case TRAILERS:
        return this.#trailer(c)
      default:
        return this.#fail('parser state') !== -1
    }
  }

  // Trailer section: field lines are consumed and dropped (never merged into the head, RFC 9110 §6.5.1), but
  // checked like head fields: a CR, LF or NUL in one is as much a framing error there.
  #trailer (c: number): boolean {
    if (++this.#trailerBytes > MAX_HEAD_BYTES) return this.#fail('trailers too large') !== -1
    switch (this.#trailerState) {
      case 0:
        if (c === CR) { this.#trailerState = 4; return true }
        if (TCHAR[c] === 0) return this.#fail(c === SP || c === HTAB ? 'obs-fold in trailer' : 'bad trailer field') !== -1
        this.#trailerState = 1
        return true
      case 1:
        if (c === COLON) { this.#trailerState = 2; return true }
        if (TCHAR[c] === 0) return this.#fail('bad trailer field') !== -1
        return true
      case 2:
        if (c === CR) { this.#trailerState = 3; return true }
        if (VCHAR[c] === 0) return this.#fail('bad character in trailer value') !== -1
        return true
      case 3:
        if (c !== LF) return this.#fail('bare CR in trailer') !== -1
        this.#trailerState = 0
        return true
      default:
        if (c !== LF) return this.#fail('bad end of trailers') !== -1
        this.#trailerState = 0
        this.#complete()
        return true
    }
  }
}

/**
 * `buf[at, at + n)` as a Buffer sharing its memory. `subarray` does the same, but on a Buffer it looks up the species
 * constructor (two generic property loads) and the backing store on every call: with two views per response field,
 * a quarter of the parser's time (bench/micro/response-parse.bench.ts --views).
 */
function view (buf: Buffer, at: number, n: number): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + at, n)
}

/** `h[at…]` equals lower-case ASCII `s`, ignoring the case of letters. */
function equalsLower (h: Buffer, at: number, s: string): boolean {
  for (let k = 0; k < s.length; k++) {
    if ((h[at + k]! | 0x20) !== s.charCodeAt(k)) return false
  }
  return true
}

/** 1*DIGIT (RFC 9110 §8.6), at most 15 digits; -1 when not that. */
function contentLength (h: Buffer, from: number, to: number): number {
  if (from === to || to - from > 15) return -1
  let v = 0
  for (let k = from; k < to; k++) {
    const d = h[k]! - 48
    if (d < 0 || d > 9) return -1
    v = v * 10 + d
  }
  return v
}

/** A comma-separated list (lower-case) holds `token`. */
function hasToken (list: string, token: string): boolean {
  if (list === token) return true
  for (const part of list.split(',')) if (part.trim() === token) return true
  return false
}
