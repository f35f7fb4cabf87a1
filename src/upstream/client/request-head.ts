// The request head as the upstream client writes it: one latin1 string, so it leaves in one write. What a
// backend could read as a second request or field (CR, LF, NUL, a space in the target) is refused here, before a byte
// is sent, as undici refused it before.
import { UpstreamFailure } from './connection.ts'

/** How the body is framed on the wire. */
export const NO_BODY = 0
export const LENGTH = 1
export const CHUNKED = 2
export type Framing = typeof NO_BODY | typeof LENGTH | typeof CHUNKED

/** token (RFC 9110 §5.6.2): methods and field names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** A request target: visible ASCII and obs-text bytes (as latin1 chars), no space or control. */
const BAD_TARGET = /[^\x21-\xff]/
/** A field value: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5); no CR, LF, NUL or other control. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/

/** Methods whose requests carry a body by definition: without one they say `Content-Length: 0` (RFC 9110 §8.6). */
const EXPECTS_BODY: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH'])

/**
 * `METHOD target HTTP/1.1`, the fields (flat `[name, value, …]`, values already as latin1 wire chars), the body's
 * framing field, and the empty line. Throws UPSTREAM_INVALID_REQUEST (a 400: it is what the client sent) on a
 * method, target, name or value that cannot go on the wire as it is.
 */
export function encodeRequestHead (method: string, target: string, headers: readonly string[], framing: Framing): string {
  if (!TOKEN.test(method)) throw invalid('method')
  if (target.length === 0 || BAD_TARGET.test(target)) throw invalid('request target')
  let s = `${method} ${target} HTTP/1.1\r\n`
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!
    const value = headers[i + 1]!
    if (!TOKEN.test(name)) throw invalid(`field name ${JSON.stringify(name)}`)
    if (BAD_VALUE.test(value)) throw invalid(`value of ${name}`)
    s += `${name}: ${value}\r\n`
  }
  if (framing === CHUNKED) s += 'transfer-encoding: chunked\r\n'
  else if (framing === NO_BODY && EXPECTS_BODY.has(method)) s += 'content-length: 0\r\n'
  return s + '\r\n'
}

function invalid (what: string): UpstreamFailure {
  return new UpstreamFailure('UPSTREAM_INVALID_REQUEST', `invalid ${what} in the request to the backend`)
}
