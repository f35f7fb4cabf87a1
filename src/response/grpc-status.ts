// gRPC clients read a failure from grpc-status and grpc-message, never from the HTTP status or a body
// (grpc/doc/PROTOCOL-HTTP2.md): Switchyard's own answers to them say in those terms what its codes mean.
import type { ErrorCode } from '../errors/index.ts'

/** gRPC status codes (grpc/doc/statuscodes.md) Switchyard answers with. */
const UNIMPLEMENTED = 12
const INTERNAL = 13
const UNAVAILABLE = 14
const DEADLINE_EXCEEDED = 4
const RESOURCE_EXHAUSTED = 8
const PERMISSION_DENIED = 7

/** Each code's gRPC status; codes not listed are INTERNAL (as gRPC maps an HTTP 400 or 500). */
const BY_CODE: Partial<Record<ErrorCode, number>> = {
  SWY_ROUTE_NOT_FOUND: UNIMPLEMENTED,
  SWY_METHOD_NOT_ALLOWED: UNIMPLEMENTED,
  SWY_REQUEST_TOO_LARGE: RESOURCE_EXHAUSTED,
  SWY_HEADERS_TOO_LARGE: RESOURCE_EXHAUSTED,
  SWY_REQUEST_TIMEOUT: DEADLINE_EXCEEDED,
  SWY_CLIENT_INFLIGHT_LIMIT: RESOURCE_EXHAUSTED,
  SWY_CLIENT_CONNECTION_LIMIT: RESOURCE_EXHAUSTED,
  SWY_RATE_LIMITED: RESOURCE_EXHAUSTED,
  SWY_BANNED: PERMISSION_DENIED,
  SWY_ACCESS_DENIED: PERMISSION_DENIED,
  // Transient, and safe for the client to try again: nothing reached a server, or none is up.
  SWY_NO_HEALTHY_UPSTREAM: UNAVAILABLE,
  SWY_UPSTREAM_UNREACHABLE: UNAVAILABLE,
  SWY_UPSTREAM_RESET: UNAVAILABLE,
  SWY_UPSTREAM_TLS: UNAVAILABLE,
  SWY_STATE_UNAVAILABLE: UNAVAILABLE,
  SWY_UPSTREAM_TIMEOUT: DEADLINE_EXCEEDED
}

export function grpcStatus (code: ErrorCode): number {
  return BY_CODE[code] ?? INTERNAL
}

/**
 * The request is gRPC over HTTP/2: `application/grpc`, alone or with a `+format` or parameters. gRPC-Web
 * (`application/grpc-web…`) reads its status from the body and is not answered this way.
 */
export function isGrpc (contentType: string | undefined): boolean {
  if (contentType === undefined || contentType.length < 16) return false
  if (contentType.slice(0, 16).toLowerCase() !== 'application/grpc') return false
  if (contentType.length === 16) return true
  const c = contentType.charCodeAt(16)
  return c === 43 || c === 59 || c === 32 // '+', ';', ' '
}
