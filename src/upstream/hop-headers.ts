// Header hygiene between client and backend, RFC 9110 §7.6.1: hop-by-hop fields and the fields named in
// Connection are dropped both ways; X-Forwarded-*, Via and x-request-id are set here and nowhere else.
import type { Exchange } from '../pipeline/index.ts'

/** Request fields never copied to the backend: hop-by-hop (RFC 9110 §7.6.1), ones undici refuses (expect), and the ones we rebuild. */
const REQUEST_DROP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'expect', 'host', 'content-length', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'via', 'x-request-id',
  'http2-settings'
])

/** Response fields never copied to the client: hop-by-hop, and framing that uWS writes itself (uws-notes.md §2). */
const RESPONSE_DROP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length', 'date']

const PLAIN_CONNECTION: ReadonlySet<string> = new Set(['keep-alive', 'close'])

const NON_ASCII = /[^\x00-\x7f]/

/**
 * uWS hands us URL and header bytes decoded as UTF-8, while undici writes strings as latin1 (one byte per char).
 * Re-encoding non-ASCII text keeps the client's exact bytes on the wire (`/café` stays C3 A9, not E9).
 */
export function wireString (s: string): string {
  return NON_ASCII.test(s) ? Buffer.from(s, 'utf8').toString('latin1') : s
}

export interface RequestHeaderOptions {
  /** Send the client's Host; otherwise `targetHost`. */
  readonly preserveHost: boolean
  readonly via: boolean
}

/** The backend request's headers, flat `[name, value, …]` as undici takes them. */
export function buildRequestHeaders (ex: Exchange, targetHost: string, o: RequestHeaderOptions): string[] {
  const h = ex.forwardHeaders
  const out: string[] = []
  let connection: string | undefined
  let xff: string | undefined
  let xfp: string | undefined
  let xfh: string | undefined
  let via: string | undefined
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!
    if (!REQUEST_DROP.has(name)) { out.push(name, wireString(h[i + 1]!)); continue }
    const v = h[i + 1]!
    if (name === 'connection') connection = connection === undefined ? v : `${connection}, ${v}`
    else if (name === 'x-forwarded-for') xff = xff === undefined ? v : `${xff}, ${v}`
    else if (name === 'x-forwarded-proto') xfp ??= v
    else if (name === 'x-forwarded-host') xfh ??= v
    else if (name === 'via') via = via === undefined ? v : `${via}, ${v}`
  }
  if (connection !== undefined) dropNamedIn(out, connection)
  out.push('host', o.preserveHost ? ex.host : targetHost)
  if (ex.body !== null && ex.contentLength >= 0) out.push('content-length', String(ex.contentLength))
  // Only a trusted peer's chain is kept and appended to; anyone else's is replaced (spoofing).
  out.push('x-forwarded-for', ex.trustedPeer && xff !== undefined ? `${xff}, ${ex.peerIp}` : ex.peerIp)
  out.push('x-forwarded-proto', ex.trustedPeer && xfp !== undefined ? xfp : ex.tls ? 'https' : 'http')
  out.push('x-forwarded-host', ex.trustedPeer && xfh !== undefined ? xfh : ex.host)
  if (o.via) out.push('via', via === undefined ? '1.1 switchyard' : `${via}, 1.1 switchyard`)
  else if (via !== undefined) out.push('via', via)
  out.push('x-request-id', ex.requestId)
  return out
}

/** The field names a Connection value lists; `close` and `keep-alive` are options, not fields. */
function connectionTokens (connection: string): string[] {
  return connection.toLowerCase().split(',').map((s) => s.trim()).filter((s) => s !== '' && !PLAIN_CONNECTION.has(s))
}

/** Removes the fields a Connection header names (`Connection: close, x-secret` drops x-secret). */
function dropNamedIn (out: string[], connection: string): void {
  const named = connectionTokens(connection)
  if (named.length === 0) return
  for (let i = out.length - 2; i >= 0; i -= 2) {
    if (named.includes(out[i]!)) out.splice(i, 2)
  }
}

export interface ResponseHeaderOptions {
  /** Lower-case names to hide (config headers.hide). */
  readonly hide: readonly string[]
  readonly via: boolean
}

export interface ResponseHead {
  /** Flat `[name, value, …]`; values stay the Buffers undici read, so nothing is decoded that is passed through. */
  readonly headers: (string | Uint8Array)[]
  /** Content-Length, or -1. */
  readonly length: number
}

/**
 * Returns a filter for undici's raw response headers. Names are only decoded when their length matches one we
 * might drop, so most headers go from undici's Buffers to uWS untouched.
 */
export function createResponseHeaderFilter (o: ResponseHeaderOptions): (raw: readonly Buffer[], requestId: string) => ResponseHead {
  const drop = new Set([...RESPONSE_DROP, ...o.hide, 'via'])
  const lengths = new Set([...drop].map((n) => n.length))
  return function filter (raw, requestId) {
    const headers: (string | Uint8Array)[] = []
    let length = -1
    let connection: string | undefined
    let via: string | undefined
    let hasRequestId = false
    for (let i = 0; i < raw.length; i += 2) {
      const nb = raw[i]!
      const vb = raw[i + 1]!
      if (!lengths.has(nb.length)) {
        if (nb.length === 12 && !hasRequestId && nb.toString('latin1').toLowerCase() === 'x-request-id') hasRequestId = true
        headers.push(nb, vb)
        continue
      }
      const name = nb.toString('latin1').toLowerCase()
      if (!drop.has(name)) {
        if (name === 'x-request-id') hasRequestId = true
        headers.push(nb, vb)
        continue
      }
      if (name === 'content-length') length = Number(vb.toString('latin1'))
      // Repeated fields are one comma-separated list (RFC 9110 §5.3): every Connection names fields to drop.
      else if (name === 'connection') connection = connection === undefined ? vb.toString('latin1') : `${connection}, ${vb.toString('latin1')}`
      else if (name === 'via') via = via === undefined ? vb.toString('latin1') : `${via}, ${vb.toString('latin1')}`
    }
    // Nearly every backend says `Connection: keep-alive`, which names no field: skip the list parse then.
    if (connection !== undefined && !PLAIN_CONNECTION.has(connection.toLowerCase())) dropNamedRaw(headers, connection)
    if (o.via) headers.push('via', via === undefined ? '1.1 switchyard' : `${via}, 1.1 switchyard`)
    else if (via !== undefined && !o.hide.includes('via')) headers.push('via', via)
    if (!hasRequestId) headers.push('x-request-id', requestId)
    return { headers, length: Number.isSafeInteger(length) && length >= 0 ? length : -1 }
  }
}


function dropNamedRaw (headers: (string | Uint8Array)[], connection: string): void {
  const named = connectionTokens(connection)
  if (named.length === 0) return
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    const n = headers[i]!
    const name = typeof n === 'string' ? n : Buffer.from(n.buffer, n.byteOffset, n.byteLength).toString('latin1').toLowerCase()
    if (named.includes(name)) headers.splice(i, 2)
  }
}
