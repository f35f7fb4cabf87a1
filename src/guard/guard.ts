// First stage: refuses framing that could smuggle a second request (framing.ts), and settles who the client is
// (request id, client address behind trusted proxies) before anything else looks at the request.
import { NEXT, type Exchange, type Stage, type Verdict } from '../pipeline/index.ts'
import { ambiguousFraming, controlInTarget, headTooLarge, validHost, validMethod } from './framing.ts'

export interface GuardOptions {
  /** trusted_proxies, as a set. */
  readonly trusted: { has (address: string): boolean, readonly size: number }
  /** Makes a fresh request id. */
  readonly nextId: () => string
  /** limits.max_headers and limits.max_header_size. */
  readonly maxHeaders: number
  readonly maxHeaderSize: number
}

// Client-supplied ids are kept only if short and URL-safe: they end up in logs, headers and error bodies.
const SAFE_ID = /^[A-Za-z0-9._:@+=-]{1,128}$/

export function createGuard ({ trusted, nextId, maxHeaders, maxHeaderSize }: GuardOptions): Stage {
  return {
    name: 'guard',
    run (ex) {
      const given = ex.header('x-request-id')
      ex.requestId = given !== undefined && SAFE_ID.test(given) ? given : nextId()
      // Framing a backend might read differently from uWS (framing.ts).
      if (ambiguousFraming(ex)) return refuseLater(ex)
      if (controlInTarget(ex)) return ex.reject('SWY_BAD_REQUEST')
      // Requests uWS 20.57 passes on where 20.30 closed the connection: a method that is not a token, a Host that is
      // not one (RFC 9112 §3.2). Answered here, never forwarded; the connection closes, its framing is suspect.
      if (!validMethod(ex.method) || !validHost(ex.host)) return ex.reject('SWY_BAD_REQUEST', true)
      if (headTooLarge(ex, maxHeaders, maxHeaderSize)) return ex.reject('SWY_HEADERS_TOO_LARGE', true)
      if (trusted.size > 0 && trusted.has(ex.peerIp)) {
        ex.trustedPeer = true
        const xff = ex.header('x-forwarded-for')
        if (xff !== undefined) ex.clientIp = realClient(xff, trusted) ?? ex.peerIp
      }
      return NEXT
    }
  }
}

/**
 * 400 and close, answered on the next macrotask rather than from the handler. uWS keeps parsing what follows in
 * the same read even after `end(body, true)`: a complete request there resets the close flag and was proxied
 * (the smuggling this check exists for). While our answer is pending, uWS instead closes the connection as soon
 * as a pipelined request arrives, so that request is never dispatched; without one, the 400 goes out and closes.
 */
async function refuseLater (ex: Exchange): Promise<Verdict> {
  ex.errorCode = 'SWY_BAD_REQUEST'
  await new Promise<void>((resolve) => { setImmediate(resolve) })
  return ex.reject('SWY_BAD_REQUEST', true)
}

/** The right-most address of the chain that is not itself a trusted proxy (nginx's real_ip_recursive). */
function realClient (xff: string, trusted: GuardOptions['trusted']): string | undefined {
  const hops = xff.split(',')
  let last: string | undefined
  for (let i = hops.length - 1; i >= 0; i--) {
    const a = hops[i]!.trim()
    if (a === '') continue
    last = a
    if (!trusted.has(a)) return a
  }
  return last
}
