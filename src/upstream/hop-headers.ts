// Header hygiene between client and backend, RFC 9110 §7.6.1: hop-by-hop fields and the fields named in
// Connection are dropped both ways; X-Forwarded-*, Via, x-request-id and traceparent are set here and nowhere else.
import { Buffer } from 'node:buffer'
import type { Exchange } from '../pipeline/index.ts'
import { validTraceparent } from './traceparent.ts'

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1, plus the obsolete Proxy-Connection): about one connection, never forwarded in
 * either direction nor stored by the cache. The one list of them.
 */
export const HOP_BY_HOP: readonly string[] = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']

/** Request fields never copied to the backend: hop-by-hop, ones undici refuses (expect), and the ones we rebuild. */
const REQUEST_DROP: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  'expect', 'host', 'content-length', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'via', 'x-request-id',
  'http2-settings', 'traceparent'
])

/** Response fields never copied to the client: hop-by-hop, and framing that uWS writes itself (docs/uws.md §2). */
const RESPONSE_DROP = [...HOP_BY_HOP, 'content-length', 'date']

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
  /** Starts a new W3C traceparent (traceparent.ts) for a request that came without a valid one. */
  readonly startTrace: () => string
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
  let trace: string | undefined
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!
    if (!REQUEST_DROP.has(name)) { out.push(name, wireString(h[i + 1]!)); continue }
    const v = h[i + 1]!
    if (name === 'connection') connection = connection === undefined ? v : `${connection}, ${v}`
    else if (name === 'x-forwarded-for') xff = xff === undefined ? v : `${xff}, ${v}`
    else if (name === 'x-forwarded-proto') xfp ??= v
    else if (name === 'x-forwarded-host') xfh ??= v
    else if (name === 'via') via = via === undefined ? v : `${via}, ${v}`
    else if (name === 'traceparent') trace = trace === undefined ? v : '' // two are invalid (§3.2)
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
  // Kept when valid, started otherwise; a retry sends the same one (set on the first attempt).
  if (ex.traceparent === '') ex.traceparent = trace !== undefined && validTraceparent(trace) ? trace : o.startTrace()
  out.push('traceparent', ex.traceparent)
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
 * Returns a filter for the backend's raw response fields (Buffers, as the upstream client read them). Names are
 * compared byte by byte, ignoring case, against the few of the same length we act on; none is decoded unless it is
 * one (a string per name and a hash lookup cost ~2% of the 100 B bench's CPU), so most fields go to uWS untouched.
 */
export function createResponseHeaderFilter (o: ResponseHeaderOptions): (raw: readonly Buffer[], requestId: string) => ResponseHead {
  const drop = new Set([...RESPONSE_DROP, ...o.hide, 'via'])
  // By length: the lower-case names to look for (the dropped ones, and x-request-id, which must not be added twice).
  const byLength: string[][] = []
  for (const n of [...drop, 'x-request-id']) (byLength[n.length] ??= []).push(n)
  return function filter (raw, requestId) {
    const headers: (string | Uint8Array)[] = []
    let length = -1
    let connection: string | undefined
    let via: string | undefined
    let hasRequestId = false
    for (let i = 0; i < raw.length; i += 2) {
      const nb = raw[i]!
      const vb = raw[i + 1]!
      const name = known(nb, byLength[nb.length])
      if (name === undefined || !drop.has(name)) {
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

/** Which of `names` (lower case, all as long as `nb`) the field name `nb` is, ignoring ASCII case; else undefined. */
function known (nb: Buffer, names: readonly string[] | undefined): string | undefined {
  if (names === undefined) return undefined
  for (let k = 0; k < names.length; k++) {
    const n = names[k]!
    let j = 0
    for (; j < n.length; j++) {
      const c = nb[j]!
      // Letters fold to lower case; anything else must match exactly.
      if ((c >= 65 && c <= 90 ? c | 0x20 : c) !== n.charCodeAt(j)) break
    }
    if (j === n.length) return n
  }
  return undefined
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
