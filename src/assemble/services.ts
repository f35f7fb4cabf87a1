// What the worker hands the assembler: the process-wide objects (logger, shared state, cache store, randomness) that
// the stages of every generation share.
import type { Logger } from 'pino'
import type { Random } from '../balancer/index.ts'
import type { EjectionEvent } from '../health/index.ts'
import type { SharedState } from '../state/index.ts'
import type { CacheStore } from '../cache/index.ts'
import type { UpstreamMeter } from '../upstream/index.ts'
import type { WsMeter } from '../websocket/index.ts'

export interface RuntimeServices {
  readonly log: Logger
  readonly random: Random
  readonly nextId: () => string
  /** Cluster-wide state (Redis or the primary's embedded store): rate-limit buckets, ban counts and active bans, sticky-session maps. */
  readonly state: SharedState
  /** Worker processes on this host: the rate limiter's fallback share and lease sizing. */
  readonly workers: number
  /** Wall clock in ms for the rate limiter and bans (compared across hosts). Default Date.now. */
  readonly now?: () => number
  /** A worker ejected a server (passive detection) or let it back in. */
  readonly onEjection?: (upstream: string, e: EjectionEvent) => void
  /** Random bytes for sticky session ids. Default crypto.randomFillSync. */
  readonly randomFill?: (buf: Uint8Array) => void
  /** The worker's HTTP cache (memory + shared level); required when a route has `cache`. */
  readonly cache?: CacheStore
  /** Per upstream, where its stage reports failed attempts and retries; absent when metrics are off. */
  readonly meter?: (upstream: string) => UpstreamMeter
  /** A route's WebSocket counters (by route id), when metrics are on. */
  readonly wsMeter?: (route: string) => WsMeter
}
