// The one table of Switchyard failures: each code, the HTTP status the client sees, and a short public text.
// A code, once shipped, keeps its meaning.

export const ERROR_CODES = {
  SWY_CONFIG_INVALID: { status: 500, text: 'invalid configuration' },
  SWY_BAD_REQUEST: { status: 400, text: 'bad request' },
  /** The path has an encoded slash, a backslash, NUL, a bad %-escape, `..;` or climbs above `/` (guard/path.ts). */
  SWY_BAD_PATH: { status: 400, text: 'bad request path' },
  SWY_ROUTE_NOT_FOUND: { status: 404, text: 'no route for this request' },
  /** The route's limits.methods does not list the method; the reply carries Allow. */
  SWY_METHOD_NOT_ALLOWED: { status: 405, text: 'method not allowed' },
  /** The body is larger than limits.max_body: by its Content-Length, or counted as a chunked body arrives. */
  SWY_REQUEST_TOO_LARGE: { status: 413, text: 'request body too large' },
  /** More header lines than limits.max_headers, or a head over limits.max_header_size; the reply closes. */
  SWY_HEADERS_TOO_LARGE: { status: 431, text: 'request header fields too large' },
  /** The request body stalled for longer than limits.body_timeout; the reply closes and the backend request is aborted. */
  SWY_REQUEST_TIMEOUT: { status: 408, text: 'request body timed out' },
  /** The client address has limits.max_inflight_per_ip requests in flight on this worker already. */
  SWY_CLIENT_INFLIGHT_LIMIT: { status: 429, text: 'too many requests in flight from this address' },
  /** The client address holds more than limits.max_connections_per_ip connections to this host; the reply closes. */
  SWY_CLIENT_CONNECTION_LIMIT: { status: 429, text: 'too many connections from this address' },
  /** A WebSocket upgrade on a route with `websocket: false`. */
  SWY_WEBSOCKET_REFUSED: { status: 400, text: 'websocket upgrades are not served on this route' },
  /** The route has limits.max_websockets open WebSockets on this host already. */
  SWY_WEBSOCKET_LIMIT: { status: 503, text: 'too many websockets on this route' },
  SWY_NO_HEALTHY_UPSTREAM: { status: 503, text: 'no healthy upstream server' },
  SWY_UPSTREAM_UNREACHABLE: { status: 502, text: 'upstream unreachable' },
  SWY_UPSTREAM_RESET: { status: 502, text: 'upstream closed the connection' },
  SWY_UPSTREAM_BAD_RESPONSE: { status: 502, text: 'invalid response from upstream' },
  SWY_UPSTREAM_TIMEOUT: { status: 504, text: 'upstream timed out' },
  /** The TLS handshake with an https:// server failed (certificate not trusted, wrong name, expired, not TLS). */
  SWY_UPSTREAM_TLS: { status: 502, text: 'upstream TLS handshake failed' },
  /** The Host is not served on this connection: not covered by the certificate its SNI chose, or no HTTPS host to redirect to (RFC 9110 §15.5.20). */
  SWY_MISDIRECTED: { status: 421, text: 'misdirected request' },
  /** The route's rate_limit refused the request; the reply carries Retry-After and the RateLimit headers. */
  SWY_RATE_LIMITED: { status: 429, text: 'rate limit exceeded' },
  /** The client is banned (a rate_limit.ban rule); the reply carries Retry-After with the seconds left. */
  SWY_BANNED: { status: 403, text: 'client is banned' },
  /** The route's allow/deny lists refused the client address. */
  SWY_ACCESS_DENIED: { status: 403, text: 'access denied' },
  /** Shared state (Redis, or the primary's embedded store) did not answer. Callers degrade; clients rarely see it. */
  SWY_STATE_UNAVAILABLE: { status: 503, text: 'shared state unavailable' },
  SWY_NOT_CACHED: { status: 504, text: 'not in the cache (only-if-cached)' },
  SWY_INTERNAL: { status: 500, text: 'internal error' }
} as const satisfies Record<string, { status: number, text: string }>

export type ErrorCode = keyof typeof ERROR_CODES

export function statusOf (code: ErrorCode): number {
  return ERROR_CODES[code].status
}
