// The one place upstream client and socket errors become Switchyard codes, and where we decide whether a retry is
// safe.
import type { ErrorCode } from '../../errors/index.ts'

export interface Classified {
  readonly code: ErrorCode
  /** Safe to try another server, provided no response byte was seen and the request is idempotent. */
  readonly retryable: boolean
}

const UNREACHABLE: Classified = { code: 'SWY_UPSTREAM_UNREACHABLE', retryable: true }
const CONNECT_TIMEOUT: Classified = { code: 'SWY_UPSTREAM_TIMEOUT', retryable: true }
const TIMEOUT: Classified = { code: 'SWY_UPSTREAM_TIMEOUT', retryable: false }
const RESET: Classified = { code: 'SWY_UPSTREAM_RESET', retryable: true }
const BAD_RESPONSE: Classified = { code: 'SWY_UPSTREAM_BAD_RESPONSE', retryable: false }
const BAD_REQUEST: Classified = { code: 'SWY_BAD_REQUEST', retryable: false }
// Before any request byte was sent, so another server may be tried.
const TLS: Classified = { code: 'SWY_UPSTREAM_TLS', retryable: true }
const OTHER: Classified = { code: 'SWY_UPSTREAM_UNREACHABLE', retryable: false }

const BY_CODE: Record<string, Classified> = {
  // Our client (connection.ts, response-parser.ts, request-head.ts).
  UPSTREAM_CONNECT_TIMEOUT: CONNECT_TIMEOUT,
  UPSTREAM_RESPONSE_TIMEOUT: TIMEOUT,
  // The server closed the connection before the response was complete.
  UPSTREAM_CLOSED: RESET,
  UPSTREAM_BAD_RESPONSE: BAD_RESPONSE,
  // What the client sent cannot go on the wire, or its body broke off.
  UPSTREAM_INVALID_REQUEST: BAD_REQUEST,
  UPSTREAM_REQUEST_BODY: BAD_REQUEST,
  ECONNREFUSED: UNREACHABLE,
  ENOTFOUND: UNREACHABLE,
  EAI_AGAIN: UNREACHABLE,
  EHOSTUNREACH: UNREACHABLE,
  ENETUNREACH: UNREACHABLE,
  EADDRNOTAVAIL: UNREACHABLE,
  UND_ERR_CONNECT_TIMEOUT: CONNECT_TIMEOUT,
  ETIMEDOUT: CONNECT_TIMEOUT,
  UND_ERR_HEADERS_TIMEOUT: TIMEOUT,
  UND_ERR_BODY_TIMEOUT: TIMEOUT,
  UND_ERR_SOCKET: RESET,
  ECONNRESET: RESET,
  EPIPE: RESET,
  UND_ERR_CLOSED: RESET,
  UND_ERR_DESTROYED: RESET,
  UND_ERR_INFO: BAD_RESPONSE,
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: BAD_RESPONSE,
  UND_ERR_RES_EXCEEDED_MAX_SIZE: BAD_RESPONSE,
  // Raised on what the client sent (a path or header undici will not put on the wire, a body shorter than its Content-Length).
  UND_ERR_INVALID_ARG: BAD_REQUEST,
  UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: BAD_REQUEST,
  UND_ERR_NOT_SUPPORTED: BAD_REQUEST,
  // node:http2 (upstream/h2/): the stream or its session was reset or torn down, or node would not send a field.
  ERR_HTTP2_STREAM_ERROR: RESET,
  ERR_HTTP2_STREAM_CANCEL: RESET,
  ERR_HTTP2_SESSION_ERROR: RESET,
  ERR_HTTP2_GOAWAY_SESSION: RESET,
  ERR_HTTP2_INVALID_SESSION: RESET,
  ERR_HTTP2_ERROR: RESET,
  ERR_HTTP2_INVALID_HEADER_VALUE: BAD_REQUEST,
  ERR_HTTP2_INVALID_CONNECTION_HEADERS: BAD_REQUEST,
  ERR_HTTP2_HEADER_SINGLE_VALUE: BAD_REQUEST,
  ERR_INVALID_HTTP_TOKEN: BAD_REQUEST,
  ERR_INVALID_CHAR: BAD_REQUEST,
  // Certificate verification (OpenSSL's X509_V_ERR_* names, as Node reports them).
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: TLS,
  UNABLE_TO_GET_ISSUER_CERT: TLS,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: TLS,
  DEPTH_ZERO_SELF_SIGNED_CERT: TLS,
  SELF_SIGNED_CERT_IN_CHAIN: TLS,
  CERT_HAS_EXPIRED: TLS,
  CERT_NOT_YET_VALID: TLS,
  CERT_REVOKED: TLS,
  CERT_UNTRUSTED: TLS,
  CERT_REJECTED: TLS,
  HOSTNAME_MISMATCH: TLS
}

export function classifyUpstreamError (err: unknown): Classified {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return OTHER
  const c = BY_CODE[code]
  if (c !== undefined) return c
  if (code.startsWith('HPE_')) return BAD_RESPONSE // llhttp parse errors on the response
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) return TLS // handshake: altname, alerts, not TLS at all
  return OTHER
}

/** RFC 9110 §9.2.2. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])
