// The client side of one HTTP/1.x exchange on the node engine (node:http's ServerResponse), and the one place those
// responses are written; HTTP/2 streams have theirs in h2-downstream.ts.
import { Buffer } from 'node:buffer'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { copyView, releaseOnWrite } from '../../net/index.ts'
import type { Downstream, Exchange, PeerAddress } from '../../pipeline/index.ts'
import type { ListenerState } from '../listener.ts'
import { NodeSide } from './node-side.ts'
import { peerOf } from './proxy-protocol.ts'

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

export class NodeDownstream extends NodeSide implements Downstream, PeerAddress {
  readonly #req: IncomingMessage
  readonly #res: ServerResponse
  readonly #state: ListenerState
  /** The connection became a WebSocket: the relay reports the exchange's end from now on. */
  #upgraded = false

  constructor (req: IncomingMessage, res: ServerResponse, state: ListenerState) {
    super(req, req.method === 'HEAD')
    this.#req = req
    this.#res = res
    this.#state = state
  }

  /** Binds the exchange and reports its end: 'finish' once the answer is handed over, 'close' before that is an abort. */
  attach (ex: Exchange): void {
    this.ex = ex
    const res = this.#res
    res.on('drain', () => { this.onDrain?.() })
    res.on('finish', () => { ex.completed() })
    res.on('close', () => { if (!ex.finished && !this.#upgraded) ex.clientAborted() })
  }

  /** The handshake was completed: the socket is the WebSocket's. */
  upgraded (): void {
    this.#upgraded = true
  }

  /** The peer's address, normalised: the TCP peer, or the client a trusted peer's PROXY v2 header named. */
  remoteAddress (): string {
    return peerOf(this.#req.socket ?? undefined)
  }

  #writeHead (): void {
    this.headWritten = true
    ;this.#res.writeHead(this.status, this.#headObject())
  }

  #headObject (): Record<string, string | string[]> {
    const h = headerObject(this.fields)
    const s = this.status
    if (this.length >= 0 && s !== 204 && s !== 304 && !(s >= 100 && s < 200)) h['content-length'] = String(this.length)
    this.#closeHeader(h)
    const r = this.ex.route?.responseHeaders
    if (r !== undefined) for (let i = 0; i < r.length; i += 2) h[r[i]!] = r[i + 1]!
    return h
  }

  /** Draining: the answer closes its connection and says so (HTTP/2 connections get GOAWAY from the listener). */
  #closeHeader (h: Record<string, string | string[]>): void {
    if (this.#state.draining) h.connection = 'close'
  }

  write (chunk: Uint8Array): boolean {
    if (this.ex.aborted || this.ended) return true
    if (!this.headWritten) this.#writeHead()
    if (this.head) return true
    this.written += chunk.length
    // A copy: the chunk is only lent for this call (the upstream client reads into one shared buffer). Large ones are
    // pooled and come back once the socket has written them (net/body-buffers.ts).
    const copy = copyView(chunk)
    return this.#res.write(copy, releaseOnWrite(copy))
  }

  end (): void {
    if (this.ex.aborted || this.ended || this.ex.finished) return
    this.ended = true
    this.resumeBody()
    const t = this.trailerFields
    if (this.shortBody()) {
      // The backend sent fewer bytes than its Content-Length: the client sees a cut, never a short body that looks whole.
      this.abort()
      return
    }
    if (!this.headWritten) this.#writeHead()
    if (t !== null && t.length > 0) this.#res.addTrailers(headerObject(t))
    this.#res.end()
  }

  abort (): void {
    if (this.ex.aborted || this.ex.finished) return
    this.ended = true
    this.#res.destroy()
    this.ex.clientAborted()
  }

  reply (status: number, headers: readonly string[], body: string, close: boolean): void {
    if (this.ex.aborted || this.ex.finished || this.ended) return
    this.ended = true
    this.resumeBody()
    const h = headerObject(headers)
    h['content-length'] = String(Buffer.byteLength(body))
    if (close) h.connection = 'close'
    else this.#closeHeader(h)
    const r = this.ex.route?.responseHeaders
    if (r !== undefined) for (let i = 0; i < r.length; i += 2) h[r[i]!] = r[i + 1]!
    this.ex.bytesSent = body.length
    const res = this.#res
    res.writeHead(status, h)
    if (this.head) res.end()
    else res.end(body)
  }
}
