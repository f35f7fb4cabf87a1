// Typed IPC between the primary and its workers.
import type { Config } from '../config/index.ts'
import type { CacheStoreStats } from '../cache/store/index.ts'
import type { MetricsDelta } from '../metrics/index.ts'

export type ToWorker =
  | { readonly type: 'config', readonly config: Config, readonly generation: number }
  /**
   * Stop accepting, finish in-flight requests (answering with Connection: close), then exit 0. `handover`: a new
   * generation serves the listeners now (a reload), so the worker stays long enough for requests on connections it
   * accepted just before closing (DRAIN_ACCEPTED_MS).
   */
  | { readonly type: 'drain', readonly timeoutMs: number, readonly handover: boolean }
  /** Health of every server of `upstream`, in `servers` order (active checks, fail-open applied). */
  | { readonly type: 'health', readonly upstream: string, readonly healthy: readonly boolean[] }
  /** Asks for per-server counters; the worker answers with a `stats` message carrying the same id. */
  | { readonly type: 'stats?', readonly id: number }

export type FromWorker =
  /** The worker has loaded and listens for messages (IPC messages sent before that are lost). */
  | { readonly type: 'hello' }
  | { readonly type: 'listening', readonly ports: readonly number[] }
  /** The worker cannot serve and will exit with `exitCode`; restarting it would not help. */
  | { readonly type: 'fatal', readonly message: string, readonly exitCode: number }
  /** Passive detection ejected a server from this worker's balancing (or let it back in). */
  | { readonly type: 'ejection', readonly upstream: string, readonly url: string, readonly ejected: boolean, readonly forMs: number, readonly failures: number, readonly reason: string }
  /** Per upstream, per server (config order): in-flight requests, errors in the last minute or two, ejected. */
  /** Metric increments since the worker's last such message, and its gauges' levels (about once a second). */
  | { readonly type: 'metrics', readonly delta: MetricsDelta }
  | { readonly type: 'stats', readonly id: number, readonly upstreams: Readonly<Record<string, ReadonlyArray<{ readonly inflight: number, readonly recentErrors: number, readonly ejected: boolean }>>>, readonly cache?: CacheStoreStats }

export function isFromWorker (m: unknown): m is FromWorker {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string'
}

export function isToWorker (m: unknown): m is ToWorker {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string'
}

/** Exit codes of the CLI and of the processes it starts (documented in the README). */
export const EXIT = {
  OK: 0,
  /** Invalid configuration. */
  CONFIG: 1,
  /** Wrong command-line usage. */
  USAGE: 2,
  /** Could not start: uWS native binary missing, port unavailable, workers failing at start. */
  STARTUP: 3
} as const
