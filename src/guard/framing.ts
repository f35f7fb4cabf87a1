// Request framing a backend (or a proxy in front of us) could read differently from uWS: each is refused with 400
// and a close, so no byte after the head is ever taken as the start of another request.
import type { Exchange } from '../pipeline/index.ts'

/**
 * True when the request's framing or Host is ambiguous:
 * - more than one Content-Length (uWS frames by the first: uws-notes.md §3);
 * - Content-Length and Transfer-Encoding together (RFC 9112 §6.1; uWS closes these itself, this is the backstop);
 * - a Transfer-Encoding other than exactly one `chunked` (RFC 9112 §6.1: uWS decodes any value as chunked, so
 *   `xchunked`, `gzip, chunked` or `chunked, identity` would reach the backend as something the client did not send);
 * - an empty header name (uWS hides every header after it, Content-Length included: uws-notes.md §3);
 * - more than one Host (RFC 9112 §3.2).
 * One pass over the headers; nothing is allocated.
 */
export function ambiguousFraming (ex: Exchange): boolean {
  if (ex.contentLengthCount > 1) return true
  const h = ex.headers
  let hosts = 0
  let codings = 0
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!
    if (name.length === 0) return true
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
