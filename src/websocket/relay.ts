// The relay between one client WebSocket and its backend one (a `ws` client): whole messages both ways, close codes
// and reasons passed on, backpressure toward a slow client (reading the backend pauses) and a cap toward a slow
// backend (a client WebSocket cannot be paused on uWS, so past the cap it is closed with 1013).
import { Buffer } from 'node:buffer'
import type WebSocket from 'ws'
import type { ClientEvents, ClientSocket, Exchange, WsCounts } from '../pipeline/index.ts'
import type { WebSocketConfig } from '../config/index.ts'

/**
 * A route's WebSocket counters (metrics/worker-metrics.ts keeps one per route): sockets open now, and messages and
 * bytes from (`in`) and to (`out`) clients. Plain fields: the relay adds to them per message.
 */
export interface WsMeter {
  open: number
  messagesIn: number
  bytesIn: number
  messagesOut: number
  bytesOut: number
}

/** For routes without metrics: counts into nothing anyone reads. */
export function nullMeter (): WsMeter {
  return { open: 0, messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 }
}

/** Every open relay of a runtime, for the idle sweep. */
export interface RelaySet {
  add (r: Relay): void
  delete (r: Relay): void
}

/** Whether `code` may be sent in a close frame (RFC 6455 §7.4.1; 1004, 1005, 1006 and 1015 are reserved). */
export function sendableCode (code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
}

const EMPTY = Buffer.alloc(0)

export class Relay implements ClientEvents {
  /** Coarse time of the last message either way (the idle sweep reads it). */
  lastActive: number
  readonly #ex: Exchange
  readonly #up: WebSocket
  readonly #cfg: WebSocketConfig
  readonly #counts: WsCounts
  readonly #set: RelaySet
  readonly #now: () => number
  readonly #meter: WsMeter
  #client: ClientSocket | null = null
  #paused = false
  #done = false
  #clientClosed = false

  constructor (ex: Exchange, up: WebSocket, cfg: WebSocketConfig, set: RelaySet, now: () => number, meter: WsMeter) {
    this.#ex = ex
    this.#meter = meter
    this.#up = up
    this.#cfg = cfg
    this.#set = set
    this.#now = now
    this.lastActive = now()
    this.#counts = { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0, code: 0 }
    ex.ws = this.#counts
  }

  /** routes[].websocket.idle_timeout in ms (0: never). */
  get idleTimeout (): number {
    return this.#cfg.idle_timeout
  }

  /** The client side is open (the 101 went out): relay from here on. */
  start (client: ClientSocket): void {
    this.#client = client
    this.#set.add(this)
    this.#meter.open++
    const up = this.#up
    up.on('message', (data, binary) => { this.#fromBackend(data as Buffer, binary) })
    up.on('close', (code, reason) => { this.#backendClosed(code, reason) })
    // An error is followed by 'close' (1006), which does the work.
    up.on('error', () => {})
  }

  #fromBackend (data: Buffer, binary: boolean): void {
    const client = this.#client
    if (client === null || this.#clientClosed) return
    const c = this.#counts
    c.messagesOut++
    c.bytesOut += data.length
    const m = this.#meter
    m.messagesOut++
    m.bytesOut += data.length
    this.lastActive = this.#now()
    client.send(data, binary)
    if (!this.#paused && client.buffered() > this.#cfg.max_buffered) {
      // A slow client: stop reading the backend until it has taken most of what waits (drain).
      this.#paused = true
      this.#up.pause()
    }
  }

  message (data: ArrayBuffer, binary: boolean): void {
    if (this.#clientClosed || this.#done) return
    const c = this.#counts
    c.messagesIn++
    c.bytesIn += data.byteLength
    const m = this.#meter
    m.messagesIn++
    m.bytesIn += data.byteLength
    this.lastActive = this.#now()
    const cfg = this.#cfg
    if (data.byteLength > cfg.max_message) {
      this.close(1009, 'message too big')
      return
    }
    const up = this.#up
    if (up.bufferedAmount > cfg.max_buffered) {
      // A slow backend: uWS cannot stop reading the client, so the bytes waiting for the backend are capped.
      this.close(1013, 'backend is slow')
      return
    }
    // A copy: uWS lends the ArrayBuffer for this call only (docs/uws.md §5).
    up.send(Buffer.from(data.slice(0)), { binary, compress: false })
  }

  drain (): void {
    if (!this.#paused || this.#client === null) return
    if (this.#client.buffered() > this.#cfg.max_buffered / 2) return
    this.#paused = false
    this.#up.resume()
  }

  /** The client's socket ended (its close frame, our own end, or a cut). */
  close (code: number, reason: ArrayBuffer | string): void {
    if (this.#clientClosed) return
    this.#clientClosed = true
    // Our own end(): the client is sent `code`; uWS will report the close again, which is ignored above.
    if (typeof reason === 'string') this.#client?.end(code, reason)
    if (this.#counts.code === 0) this.#counts.code = code
    const up = this.#up
    if (up.readyState === up.OPEN) {
      if (sendableCode(code)) up.close(code, typeof reason === 'string' ? reason : Buffer.from(reason.slice(0)))
      else if (code === 1005) up.close() // a close frame without a code, as the client sent
      else up.terminate() // 1006: the client vanished, so does the backend connection
    } else if (up.readyState === up.CONNECTING) {
      up.terminate()
    }
    this.#finish()
  }

  /** The backend's socket closed: its code and reason go to the client (1006 and 1015 become 1011). */
  #backendClosed (code: number, reason: Buffer): void {
    if (!this.#clientClosed) {
      this.#clientClosed = true
      const client = this.#client!
      const out = sendableCode(code) ? code : code === 1005 ? 0 : 1011
      this.#counts.code = out === 0 ? 1005 : out
      client.end(out, out === 1011 && reason.length === 0 ? 'backend went away' : reason.length === 0 ? EMPTY : reason)
    }
    this.#finish()
  }

  /** Closes both sides now (idle timeout). */
  closeBoth (code: number, reason: string): void {
    this.close(code, reason)
  }

  #finish (): void {
    if (this.#done) return
    this.#done = true
    this.#set.delete(this)
    if (this.#client !== null) this.#meter.open--
    const ex = this.#ex
    const t = ex.target
    if (t !== null) t.inflight--
    ex.status = 101
    ex.bytesSent = this.#counts.bytesOut
    ex.completed()
  }
}
