// Every metric family Switchyard exposes: name, type, help and label names, in one table both sides read. Workers
// send deltas by family name (worker-metrics.ts); the primary adds them up and renders them (totals.ts, exposition.ts).
// Label values only ever come from the config (route, upstream, server URL, listener, state kind) or from the
// process (worker id, bounded by live workers), never from request data, so cardinality is bounded by the config.

/**
 * Histogram bucket upper bounds in seconds: from 0.25 ms (sub-millisecond proxying resolves) to 60 s. The same
 * bounds everywhere, so histograms of any worker, host or fleet add bucket by bucket (the dashboard's percentiles).
 */
export const BUCKETS: readonly number[] = [
  0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
]
/** The same bounds in milliseconds, for the workers' hot path (they measure in ms). */
export const BUCKETS_MS: readonly number[] = BUCKETS.map((s) => s * 1000)

/** Index of the bucket a duration of `ms` falls in; BUCKETS.length is the +Inf bucket. */
export function bucketOf (ms: number): number {
  const b = BUCKETS_MS
  let i = 0
  while (i < b.length && ms > b[i]!) i++
  return i
}

/**
 * How a worker-reported gauge is combined across the live workers: `sum` (in-flight requests, cache memory),
 * `max` (a copy every worker holds: active bans), or `worker` (shown per worker with a `worker` label: RSS).
 */
export type GaugeMerge = 'sum' | 'max' | 'worker'

export interface Family {
  readonly name: string
  readonly type: 'counter' | 'gauge' | 'histogram'
  readonly help: string
  readonly labels: readonly string[]
  /** Gauges reported by workers only. */
  readonly merge?: GaugeMerge
}

const f = (name: string, type: Family['type'], labels: readonly string[], help: string, merge?: GaugeMerge): Family =>
  merge === undefined ? { name, type, help, labels } : { name, type, help, labels, merge }

/** Families whose values come from the workers (as deltas for counters and histograms, as levels for gauges). */
export const WORKER_FAMILIES = {
  requests: f('switchyard_requests_total', 'counter', ['route', 'upstream', 'code'], 'Answered requests (local replies included), by route, upstream and status code; 499: the client left first.'),
  duration: f('switchyard_request_duration_seconds', 'histogram', ['route', 'upstream'], 'Time from the request\'s arrival to the end of its answer.'),
  ttfb: f('switchyard_upstream_ttfb_seconds', 'histogram', ['upstream', 'server'], 'Time from sending a request to a server to its response head (the last attempt of each request).'),
  bytesIn: f('switchyard_request_body_bytes_total', 'counter', ['route'], 'Request body bytes received from clients.'),
  bytesOut: f('switchyard_response_body_bytes_total', 'counter', ['route'], 'Response body bytes sent to clients.'),
  retries: f('switchyard_upstream_retries_total', 'counter', ['upstream', 'server'], 'Requests sent again to another server after this one failed before answering.'),
  connectFailures: f('switchyard_upstream_connect_failures_total', 'counter', ['upstream', 'server'], 'Attempts that could not connect to the server (refused, unreachable, connect timeout, TLS).'),
  timeouts: f('switchyard_upstream_timeouts_total', 'counter', ['upstream', 'server'], 'Attempts that timed out waiting for the server.'),
  upstreamErrors: f('switchyard_upstream_errors_total', 'counter', ['upstream', 'server', 'code'], 'Failed attempts by error code.'),
  rateLimited: f('switchyard_ratelimit_limited_total', 'counter', ['route'], 'Requests refused by the route\'s rate limit (429).'),
  rateAdmitted: f('switchyard_ratelimit_admitted_total', 'counter', ['route'], 'Requests the route\'s rate limit let through.'),
  denied: f('switchyard_access_denied_total', 'counter', ['route'], 'Requests refused by the route\'s allow/deny lists.'),
  banned: f('switchyard_banned_requests_total', 'counter', [], 'Requests refused because the client is banned.'),
  cache: f('switchyard_cache_requests_total', 'counter', ['route', 'result'], 'Answers of cached routes by X-Cache result (hit, miss, stale, bypass).'),
  cacheFills: f('switchyard_cache_fills_total', 'counter', [], 'Responses stored in the cache.'),
  wsMessages: f('switchyard_websocket_messages_total', 'counter', ['route', 'direction'], 'WebSocket messages relayed, from clients (in) and to clients (out).'),
  wsBytes: f('switchyard_websocket_bytes_total', 'counter', ['route', 'direction'], 'WebSocket message payload bytes relayed, from clients (in) and to clients (out).'),
  stateOps: f('switchyard_state_operations_total', 'counter', ['kind', 'op'], 'Shared-state operations by backend kind (redis, sentinel, cluster, embedded).'),
  stateFaults: f('switchyard_state_faults_total', 'counter', ['kind', 'op'], 'Shared-state operations that failed (the caller degraded).'),
  stateLatency: f('switchyard_state_operation_seconds', 'histogram', ['kind'], 'Shared-state operation latency.'),
  cpu: f('switchyard_worker_cpu_seconds_total', 'counter', [], 'CPU time (user + system) of the worker processes.'),
  inflight: f('switchyard_inflight_requests', 'gauge', [], 'Requests being answered now.', 'sum'),
  serverInflight: f('switchyard_upstream_inflight_requests', 'gauge', ['upstream', 'server'], 'Requests in flight to each server.', 'sum'),
  serverEjected: f('switchyard_upstream_server_ejected', 'gauge', ['upstream', 'server'], '1 while at least one worker has the server ejected (passive detection), else 0.', 'max'),
  bans: f('switchyard_bans_active', 'gauge', [], 'Clients banned now.', 'max'),
  cacheMemory: f('switchyard_cache_memory_bytes', 'gauge', [], 'Bytes of responses held in the workers\' cache memory.', 'sum'),
  cacheEntries: f('switchyard_cache_memory_entries', 'gauge', [], 'Responses held in the workers\' cache memory.', 'sum'),
  wsOpen: f('switchyard_websockets_open', 'gauge', ['route'], 'WebSockets open now (relayed to a backend), by route.', 'sum'),
  rss: f('switchyard_worker_resident_memory_bytes', 'gauge', ['worker'], 'Resident set size of each live worker.', 'worker'),
  loopDelay: f('switchyard_worker_event_loop_delay_seconds', 'gauge', ['worker', 'quantile'], 'Event-loop delay of each live worker over the last second (p50, p99, max).', 'worker')
} as const satisfies Record<string, Family>

export type WorkerFamily = keyof typeof WORKER_FAMILIES

/** Families the primary knows itself (supervision, reloads, active health, certificates, sockets). */
export const PRIMARY_FAMILIES = {
  generation: f('switchyard_config_generation', 'gauge', [], 'The generation of workers that serves (1 at start, +1 per reload or membership change).'),
  reloads: f('switchyard_config_reloads_total', 'counter', ['result'], 'Reloads by result (ok, failed: the running generation kept serving).'),
  workers: f('switchyard_workers', 'gauge', ['state'], 'Worker processes by state (starting, serving, draining).'),
  restarts: f('switchyard_worker_restarts_total', 'counter', [], 'Serving workers that died and were replaced.'),
  crashLoop: f('switchyard_workers_crash_looping', 'gauge', [], '1 while workers are crash-looping (5 deaths within 30 s: replacements back off), else 0.'),
  serverUp: f('switchyard_upstream_server_up', 'gauge', ['upstream', 'server'], 'Active health check verdict per server (1 up, 0 down); 1 for servers without checks.'),
  ejections: f('switchyard_upstream_ejections_total', 'counter', ['upstream', 'server'], 'Passive ejections of a server by a worker after consecutive failures.'),
  connections: f('switchyard_open_connections', 'gauge', ['listener'], 'Established client connections per listener (host:port), from the kernel\'s socket table.'),
  certNotAfter: f('switchyard_tls_cert_not_after_seconds', 'gauge', ['listener', 'cert'], 'Expiry (Unix time) of each listener certificate.'),
  purges: f('switchyard_cache_purges_total', 'counter', [], 'Cache purges run through the admin API.')
} as const satisfies Record<string, Family>

export type PrimaryFamily = keyof typeof PRIMARY_FAMILIES
