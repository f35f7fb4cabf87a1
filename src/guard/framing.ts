// Request framing a backend (or a proxy in front of us) could read differently from uWS: each is refused with 400
// and a close, so no byte after the head is ever taken as the start of another request.
import type { Exchange } from '../pipeline/index.ts'

/**
 * True when the request's framing or Host is ambiguous:
 * - more than one Content-Length (uWS frames by the first: docs/uws.md §3);
 * - Content-Length and Transfer-Encoding together (RFC 9112 §6.1; uWS closes these itself, this is the backstop);
 * - a Transfer-Encoding other than exactly one `chunked` (RFC 9112 §6.1: uWS decodes any value as chunked, so
 *   `xchunked`, `gzip, chunked` or `chunked, identity` would reach the backend as something the client did not send);
 * - an empty header name (uWS hides every header after it, Content-Length included: docs/uws.md §3);
 * - more than one Host (RFC 9112 §3.2);
 * - `Content_Length` or `Transfer_Encoding`: uWS 20.57 passes them as ordinary fields, but a backend that reads `_`
 *   as `-` (CGI, WSGI) would frame the body by them, differently from us.
 * One pass over the headers; nothing is allocated.
 */
const FRAMING_ALIAS: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding'])

export function ambiguousFraming (ex: Exchange): boolean {
  if (ex.contentLengthCount > 1) return true
  const h = ex.headers
  let hosts = 0
  let codings = 0
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!
    if (name.length === 0) return true
    if ((name.length === 14 || name.length === 17) && name.includes('_') && FRAMING_ALIAS.has(name.replaceAll('_', '-'))) return true
    if (name === 'host') {
      if (++hosts > 1) return true
    } else if (name === 'transfer-encoding') {
      // Transfer-coding names are case-insensitive (RFC 9112 §7); uWS has already trimmed SP/HTAB.
      if (++codings > 1 || h[i + 1]!.toLowerCase() !== 'chunked') return true
    }
  }
  return codings > 0 && ex.contentLengthCount > 0
}

// RFC 9112 §3.2 / RFC 3986: no control character in a request target. uWS lets DEL (and, in the query, more)
// through; undici refuses most of the rest but not DEL, and strict backends (llhttp) reject the request line.
const CONTROL = /[\x00-\x1f\x7f]/

/** True when the path or query carries a control character. */
export function controlInTarget (ex: Exchange): boolean {
  return CONTROL.test(ex.path) || (ex.query !== '' && CONTROL.test(ex.query))
}

/** RFC 9110 §9.1: a method is a token. uWebSockets.js 20.57 passes any bytes before the first space as the method. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

export function validMethod (method: string): boolean {
  return TOKEN.test(method)
}

// RFC 9112 §3.2 / RFC 3986 §3.2.2: Host = uri-host [ ":" port ]; uri-host = IP-literal / IPv4address / reg-name.
// reg-name is unreserved, pct-encoded and sub-delims characters; an empty value is allowed (a target without authority).
const HOST = /^(?:\[(?:[0-9A-Fa-f:.]+|v[0-9A-Fa-f]+\.[-A-Za-z0-9._~!$&'()*+,;=:]+)\]|(?:[-A-Za-z0-9._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?$/

/** Whether a Host value is an RFC 9112 §3.2 Host (a reg-name or IP literal, then an optional port). */
export function validHost (host: string): boolean {
  return HOST.test(host)
}

/**
 * Whether the request head is over the limits: more than `maxHeaders` header lines, or more than `maxBytes` in
 * request line and header lines (counted as the wire has them: `name: value` and CRLF each, characters as uWS decoded them).
 */
export function headTooLarge (ex: Exchange, maxHeaders: number, maxBytes: number): boolean {
  const h = ex.headers
  if (h.length > maxHeaders * 2) return true
  // "METHOD SP target SP HTTP/1.1 CRLF" (12 besides method and target), the header lines, the final CRLF
  let bytes = ex.method.length + ex.path.length + (ex.query === '' ? 0 : ex.query.length + 1) + 12 + 2
  for (let i = 0; i < h.length; i += 2) bytes += h[i]!.length + h[i + 1]!.length + 4
  return bytes > maxBytes
}
