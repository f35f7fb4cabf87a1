// What a WebSocket handshake carries through the stages: the engine's side of the upgrade (the client's offer, and
// how to complete it) and the client socket once open. Stages see these interfaces, never uWS types.

/** One open client WebSocket as the relay drives it. */
export interface ClientSocket {
  /** Sends one whole message; false once the engine buffers more than it could send right away (see `buffered`). */
  send (data: Uint8Array, binary: boolean): boolean
  /** Bytes queued toward the client that the socket has not taken yet. */
  buffered (): number
  /** A close frame with `code` and `reason` (code 0: a close frame without a code), then the connection ends. */
  end (code: number, reason: Uint8Array | string): void
  /** Cuts the connection without a close frame. */
  cut (): void
}

/** What the relay hears from the client socket; the engine calls these. */
export interface ClientEvents {
  /** A whole message, lent for this call only (copy what is kept). */
  message (data: ArrayBuffer, binary: boolean): void
  /** The client can take more after `send` returned false. */
  drain (): void
  /** The connection ended: `code` as received (1005: no code, 1006: no close frame), reason lent for this call. */
  close (code: number, reason: ArrayBuffer): void
}

/** The client's upgrade request, on an Exchange that is a WebSocket handshake. */
export interface ClientUpgrade {
  /** Sec-WebSocket-Protocol as the client offered it, '' when absent. */
  readonly protocols: string
  /** The client offered permessage-deflate. */
  readonly deflate: boolean
  /**
   * Completes the handshake: 101 with `protocol` (the backend's choice, '' for none), with permessage-deflate when
   * `deflate` and the client offered it. `events` hear the socket from then on. Returns the socket, or null when the
   * client left meanwhile.
   */
  accept (events: ClientEvents, protocol: string, deflate: boolean): ClientSocket | null
}
