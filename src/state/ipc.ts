// Typed IPC for the embedded store: workers send StateRequest to the primary, which answers with StateReply and
// forwards published messages as StateEvent. Bytes travel as base64: the cluster channel serialises as JSON.
import { Buffer } from 'node:buffer'
import type { TokenRequest } from './shared-state.ts'

export type StateOp =
  | { readonly op: 'get', readonly key: string }
  | { readonly op: 'getMany', readonly keys: readonly string[] }
  | { readonly op: 'set', readonly key: string, readonly value: string, readonly ttlMs?: number }
  | { readonly op: 'del', readonly keys: readonly string[] }
  | { readonly op: 'setnx', readonly key: string, readonly value: string, readonly ttlMs: number }
  | { readonly op: 'delif', readonly key: string, readonly value: string }
  | { readonly op: 'incr', readonly key: string, readonly by: number, readonly ttlMs: number }
  | { readonly op: 'take', readonly key: string, readonly req: TokenRequest }
  | { readonly op: 'xadd', readonly key: string, readonly member: string, readonly expiresAtMs: number, readonly nowMs: number }
  | { readonly op: 'xlist', readonly key: string, readonly nowMs: number }
  | { readonly op: 'xdel', readonly key: string, readonly members: readonly string[] }
  | { readonly op: 'publish', readonly channel: string, readonly message: string }
  | { readonly op: 'subscribe', readonly channel: string }
  | { readonly op: 'unsubscribe', readonly channel: string }

/** Worker → primary. `id` is unique per worker while the request is pending. */
export type StateRequest = { readonly type: 'state', readonly id: number } & StateOp

/** Primary → worker. `value` depends on the op: base64 or null, a list of those, a number, a boolean, a TokenResult, a list of ExpiringMember, or null. */
export type StateReply =
  | { readonly type: 'state:reply', readonly id: number, readonly ok: true, readonly value: unknown }
  | { readonly type: 'state:reply', readonly id: number, readonly ok: false, readonly error: string }

/** Primary → every worker subscribed to `channel`. */
export interface StateEvent { readonly type: 'state:message', readonly channel: string, readonly message: string }

export function isStateRequest (m: unknown): m is StateRequest {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'state' && typeof (m as { id?: unknown }).id === 'number'
}

export function isStateReply (m: unknown): m is StateReply {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'state:reply'
}

export function isStateEvent (m: unknown): m is StateEvent {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'state:message'
}

export function toB64 (b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')
}

export function fromB64 (s: string): Uint8Array {
  return Buffer.from(s, 'base64')
}
