// SharedState: the one interface for cluster-wide state (rate-limit buckets, counters, sticky maps, bans, pub/sub).
// Implementations: redis.ts (single, sentinel, cluster) and embedded.ts (primary-held, reached over IPC).

/** A token-bucket request. `nowMs` is the caller's clock, so tests and every store agree on the arithmetic. */
export interface TokenRequest {
  /** Tokens added per second. */
  readonly ratePerSec: number
  /** Bucket size; a new (or expired) bucket starts full. */
  readonly burst: number
  /** Tokens wanted; fewer may be granted (never more than the bucket holds). */
  readonly want: number
  readonly nowMs: number
}

export interface TokenResult {
  /** Whole tokens taken, 0..want. */
  readonly granted: number
  /** Tokens left in the bucket after the take (may be fractional). */
  readonly tokens: number
  /** 0 when everything wanted was granted; otherwise ms until the next whole token. */
  readonly retryAfterMs: number
}

export type MessageHandler = (message: Uint8Array) => void

/** One member of an expiring set and its absolute expiry (ms on the wall clock of whoever added it). */
export interface ExpiringMember {
  readonly member: string
  readonly expiresAtMs: number
}

/**
 * Cluster-wide state. Keys are full names built with `createKeys()` (prefix + hash tag), so a store never rewrites
 * them. Each key holds one kind of value: bytes (get/set), a counter (incr), a token bucket (takeTokens) or an
 * expiring set (addExpiring/listExpiring/removeExpiring).
 *
 * Every method rejects with `StateUnavailableError` (code `SWY_STATE_UNAVAILABLE`) on a transport fault, within
 * about the configured command timeout, and never with anything else for one; the store reconnects by itself.
 */
export interface SharedState {
  get (key: string): Promise<Uint8Array | undefined>
  /** Values of `keys` in order, in one round trip per node (Redis auto-pipelining). */
  getMany (keys: readonly string[]): Promise<Array<Uint8Array | undefined>>
  /** Stores `value`; with `ttlMs`, the key expires that long after this call. */
  set (key: string, value: Uint8Array, ttlMs?: number): Promise<void>
  /** Deletes the keys; resolves how many existed. */
  del (...keys: string[]): Promise<number>
  /**
   * Stores `value` for `ttlMs` only if `key` holds nothing; resolves whether it did (Redis `SET NX PX`). A lock:
   * the value is the holder's token, and the TTL frees it if the holder dies.
   */
  setIfAbsent (key: string, value: Uint8Array, ttlMs: number): Promise<boolean>
  /** Deletes `key` only if it holds exactly `value` (a lock still ours); resolves whether it did. Atomic (Lua on Redis). */
  delIfEquals (key: string, value: Uint8Array): Promise<boolean>
  /**
   * Adds `by` (an integer) to a fixed-window counter and resolves the new value. The TTL is set when the key is
   * created (or found without one) and not extended by later increments, so the window is fixed.
   */
  incr (key: string, by: number, ttlMs: number): Promise<number>
  /** Atomically refills the bucket at `key` up to `nowMs` and takes up to `want` tokens (token-bucket.ts). */
  takeTokens (key: string, req: TokenRequest): Promise<TokenResult>
  /**
   * Adds `member` to the expiring set at `key` until `expiresAtMs` (wall clock, ms). A member already there keeps
   * the later of its two expiries. Members expired at `nowMs` are dropped on the way, and the key itself expires
   * once its last member has (so a set of bans cleans itself up). One round trip, atomic (Lua on Redis).
   */
  addExpiring (key: string, member: string, expiresAtMs: number, nowMs: number): Promise<void>
  /** The members of the expiring set at `key` still live at `nowMs`, soonest expiry first. */
  listExpiring (key: string, nowMs: number): Promise<ExpiringMember[]>
  /** Removes members from the expiring set at `key`; resolves how many were there (expired ones may count). */
  removeExpiring (key: string, ...members: string[]): Promise<number>
  /** Delivers `message` to every subscriber of `channel`, in every process sharing this state (including this one). */
  publish (channel: string, message: Uint8Array): Promise<void>
  /** Calls `handler` for each message on `channel`; resolves once subscribed, to a function that unsubscribes. */
  subscribe (channel: string, handler: MessageHandler): Promise<() => Promise<void>>
  /** Releases connections and timers. Calls after close reject with StateUnavailableError. */
  close (): Promise<void>
}
