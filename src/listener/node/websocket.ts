// The node engine's side of a WebSocket (HTTP/1.1 upgrade on node:http and on a TLS listener's HTTP/1.1
// connections): the handshake runs through the stages like on uWS, and once the backend accepted, the `ws` package
// completes it on the client's socket. A refused handshake is answered by a ServerResponse on that socket.
import { Buffer } from 'node:buffer'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import type { ClientEvents, ClientSocket, ClientUpgrade } from '../../pipeline/index.ts'

/** What the node engine takes for WebSockets (the same figures the uWS engine gets: listener/uws/websocket.ts). */
export interface NodeWsOptions {
  readonly maxMessage: number
}

/** One server per deflate choice: `ws` negotiates permessage-deflate per server, each socket per its route. */
export interface WsServers {
  readonly plain: WebSocketServer
  readonly deflate: WebSocketServer
}

export function createWsServers (o: NodeWsOptions): WsServers {
  const common = { noServer: true, maxPayload: o.maxMessage, clientTracking: false, skipUTF8Validation: false }
  // The subprotocol is the backend's choice, passed per upgrade through the request (see NodeUpgrade.accept).
  const handleProtocols = (_offered: Set<string>, req: IncomingMessage): string | false => (req as ChosenProtocol)[CHOSEN] || false
  return {
    plain: new WebSocketServer({ ...common, perMessageDeflate: false, handleProtocols }),
    deflate: new WebSocketServer({ ...common, perMessageDeflate: { threshold: 0 }, handleProtocols })
  }
}

const CHOSEN = Symbol('switchyard.protocol')
type ChosenProtocol = IncomingMessage & { [CHOSEN]?: string }

/** Whether an upgrade request is a WebSocket handshake `ws` can complete (RFC 6455 §4.2.1). */
export function isWebSocketHandshake (req: IncomingMessage): boolean {
  const key = req.headers['sec-websocket-key']
  return req.method === 'GET' &&
    (req.headers.upgrade ?? '').toLowerCase() === 'websocket' &&
    typeof key === 'string' && /^[A-Za-z0-9+/]{22}==$/.test(key) &&
    req.headers['sec-websocket-version'] === '13'
}

export class NodeUpgrade implements ClientUpgrade {
  readonly protocols: string
  readonly deflate: boolean
  readonly #req: IncomingMessage
  readonly #socket: Duplex
  readonly #head: Buffer
  readonly #servers: WsServers
  readonly #open: Set<NodeClientSocket>
  /** Told once the socket belongs to the WebSocket: its close is then the relay's to report, not an abort. */
  onAccepted: (() => void) | null = null

  constructor (req: IncomingMessage, socket: Duplex, head: Buffer, servers: WsServers, open: Set<NodeClientSocket>) {
    this.#req = req
    this.#socket = socket
    this.#head = head
    this.#servers = servers
    this.#open = open
    const p = req.headers['sec-websocket-protocol']
    this.protocols = p ?? ''
    this.deflate = /permessage-deflate/i.test(String(req.headers['sec-websocket-extensions'] ?? ''))
  }

  accept (events: ClientEvents, protocol: string, deflate: boolean): ClientSocket | null {
    const socket = this.#socket
    if (socket.destroyed || !socket.writable) return null
    ;(this.#req as ChosenProtocol)[CHOSEN] = protocol
    const server = deflate && this.deflate ? this.#servers.deflate : this.#servers.plain
    let client: NodeClientSocket | null = null
    // Synchronous here: no verifyClient, so `ws` writes the 101 and calls back before handleUpgrade returns.
    server.handleUpgrade(this.#req, socket, this.#head, (ws) => {
      client = new NodeClientSocket(ws, socket, events, this.#open)
    })
    if (client !== null) {
      this.#open.add(client)
      this.onAccepted?.()
    }
    return client
  }
}

/** One open client WebSocket on the node engine. */
export class NodeClientSocket implements ClientSocket {
  readonly #ws: WebSocket
  readonly #socket: Duplex
  closed = false

  constructor (ws: WebSocket, socket: Duplex, events: ClientEvents, open: Set<NodeClientSocket>) {
    this.#ws = ws
    this.#socket = socket
    ws.binaryType = 'arraybuffer'
    // A fault in the relay must not become an uncaught exception: the socket closes with 1011, as on uWS.
    ws.on('message', (data: ArrayBuffer, binary: boolean) => {
      try { events.message(data, binary) } catch { this.end(1011, 'internal error') }
    })
    socket.on('drain', () => {
      if (this.closed) return
      try { events.drain() } catch { this.end(1011, 'internal error') }
    })
    ws.on('error', () => {})
    ws.once('close', (code: number, reason: Buffer) => {
      this.closed = true
      open.delete(this)
      try { events.close(code, reason.buffer.slice(reason.byteOffset, reason.byteOffset + reason.length) as ArrayBuffer) } catch { /* gone either way */ }
    })
  }

  send (data: Uint8Array, binary: boolean): boolean {
    if (this.closed) return true
    this.#ws.send(data, { binary })
    // False only when the socket said so: its 'drain' follows then (bufferedAmount is rarely 0 right after a write).
    return !this.#socket.writableNeedDrain
  }

  buffered (): number {
    return this.closed ? 0 : this.#ws.bufferedAmount
  }

  end (code: number, reason: Uint8Array | string): void {
    if (this.closed) return
    // 0: a close frame without a code (the client then sees 1005, as the backend sent).
    if (code === 0) this.#ws.close()
    else this.#ws.close(code, typeof reason === 'string' ? reason : Buffer.from(reason))
  }

  cut (): void {
    if (this.closed) return
    this.#ws.terminate()
  }
}
