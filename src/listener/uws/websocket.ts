// The uWS side of a WebSocket: the upgrade a handshake Exchange carries (completed with res.upgrade once the backend
// accepted, docs/uws.md §5), the client socket the relay drives, and the behavior every app registers with `ws()`.
import type { HttpResponse, WebSocket, WebSocketBehavior, us_socket_context_t } from 'uWebSockets.js'
import type { ClientEvents, ClientSocket, ClientUpgrade } from '../../pipeline/index.ts'
import type { UWS } from '../../engine/index.ts'

/** The settings uWS takes per app (not per route): the largest of every route's, each route checks its own. */
export interface WsEngineOptions {
  /** Largest message uWS accepts from a client: the largest routes[].websocket.max_message. */
  readonly maxMessage: number
  /** Bytes uWS queues per socket before `send` drops: above every route's max_buffered plus a message. */
  readonly maxBackpressure: number
  /** Some route compresses (permessage-deflate); each socket still negotiates it only where its route allows. */
  readonly deflate: boolean
}

/** What a socket and its relay share. uWS copies the user data object's fields into its own, so this sits one level down. */
interface Link {
  readonly events: ClientEvents
  readonly compress: boolean
  socket: UwsClientSocket | null
}

interface UserData {
  readonly link: Link
}

/** The client's upgrade request; `accept` completes it once the backend answered (after an await). */
export class UwsUpgrade implements ClientUpgrade {
  readonly protocols: string
  readonly deflate: boolean
  readonly #res: HttpResponse
  readonly #key: string
  readonly #extensions: string
  readonly #context: us_socket_context_t
  readonly #open: Set<UwsClientSocket>
  aborted = false

  constructor (res: HttpResponse, key: string, protocols: string, extensions: string, context: us_socket_context_t, open: Set<UwsClientSocket>) {
    this.#res = res
    this.#key = key
    this.protocols = protocols
    this.#extensions = extensions
    this.deflate = /permessage-deflate/i.test(extensions)
    this.#context = context
    this.#open = open
  }

  accept (events: ClientEvents, protocol: string, deflate: boolean): ClientSocket | null {
    if (this.aborted) return null
    const link: Link = { events, compress: deflate && this.deflate, socket: null }
    // uWS calls the behavior's `open` from inside upgrade(), which sets link.socket. Not inside res.cork(), which
    // uWS's docs suggest after an await: on 20.57 a socket upgraded in a cork was now and then closed at once (1006,
    // no close frame, 0 ms after open), a few per run of the WebSocket tests; without the cork none was, on both
    // builds (docs/engines.md, "WebSocket upgrades").
    this.#res.upgrade<UserData>({ link }, this.#key, protocol, link.compress ? this.#extensions : '', this.#context)
    const s = link.socket as UwsClientSocket | null
    if (s !== null) this.#open.add(s)
    return s
  }
}

/** One open client WebSocket. uWS forbids touching it once its close handler ran (docs/uws.md §5). */
export class UwsClientSocket implements ClientSocket {
  readonly #ws: WebSocket<UserData>
  readonly #compress: boolean
  closed = false

  constructor (ws: WebSocket<UserData>, compress: boolean) {
    this.#ws = ws
    this.#compress = compress
  }

  send (data: Uint8Array, binary: boolean): boolean {
    if (this.closed) return true
    // 1 sent, 0 queued (drain follows), 2 dropped: maxBackpressure is set above what the relay lets queue, so a drop
    // means the relay's own bound failed; the socket is closed rather than silently losing a message.
    const r = this.#ws.send(data, binary, this.#compress)
    if (r === 2) this.end(1011, 'message dropped')
    return r === 1
  }

  buffered (): number {
    return this.closed ? 0 : this.#ws.getBufferedAmount()
  }

  end (code: number, reason: Uint8Array | string): void {
    if (this.closed) return
    // 0: a close frame without a code (the client then sees 1005, as the backend sent).
    if (code === 0) this.#ws.end()
    else this.#ws.end(code, reason)
  }

  cut (): void {
    if (this.closed) return
    this.#ws.close()
  }
}

/**
 * The behavior of `app.ws('/*', …)`: `upgrade` runs the listener's handler (the handshake goes through the same
 * stages as a request), the rest dispatches to the relay through the socket's user data.
 */
export function wsBehavior (uws: UWS, o: WsEngineOptions, open: Set<UwsClientSocket>, upgrade: (res: HttpResponse, req: Parameters<NonNullable<WebSocketBehavior<UserData>['upgrade']>>[1], context: us_socket_context_t) => void): WebSocketBehavior<UserData> {
  return {
    compression: o.deflate ? uws.SHARED_COMPRESSOR : uws.DISABLED,
    maxPayloadLength: o.maxMessage,
    maxBackpressure: o.maxBackpressure,
    // Liveness only: uWS pings and closes a peer that answers nothing for this long. Idle sockets (no messages) are
    // closed by the relay's idle_timeout.
    idleTimeout: 120,
    sendPingsAutomatically: true,
    upgrade,
    open (ws) {
      const d = ws.getUserData().link
      d.socket = new UwsClientSocket(ws, d.compress)
    },
    // A fault in the relay must not reach uWS (an exception there ends the worker): the socket closes with 1011.
    message (ws, message, isBinary) {
      try { ws.getUserData().link.events.message(message, isBinary) } catch { ws.getUserData().link.socket?.end(1011, 'internal error') }
    },
    drain (ws) {
      try { ws.getUserData().link.events.drain() } catch { ws.getUserData().link.socket?.end(1011, 'internal error') }
    },
    close (ws, code, message) {
      const d = ws.getUserData().link
      const s = d.socket
      if (s !== null) {
        s.closed = true
        open.delete(s)
      }
      try { d.events.close(code, message) } catch { /* the socket is gone either way */ }
    }
  }
}

export type { UserData as WsUserData }
