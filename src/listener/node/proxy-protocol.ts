// PROXY protocol v2 on the node engine, as uWS reads it on its listeners (README "Limits and guards"): a connection
// may open with a v2 header (haproxy.org proxy-protocol.txt §2.2: a layer-4 load balancer's `send-proxy-v2`, AWS
// NLB). The header is taken off on every connection; the client it names becomes the peer only when the connection's
// real peer is in trusted_proxies. Anything else (no header, PROXY v1 text) reaches the HTTP server byte for byte.
import { Buffer } from 'node:buffer'
import type { Socket } from 'node:net'
import { addressFromBytes, normaliseAddress } from '../../net/index.ts'

/** The 12 bytes every v2 header starts with. */
const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
/** Signature, version and command, family and protocol, length. */
const FIXED = 16
/** The most address and TLV bytes taken (HAProxy sends at most a few hundred; AWS NLB's TLVs fit well within). */
const MAX_BODY = 4096
/** A connection that has not sent its first bytes in this long is closed (node:http's headersTimeout is the same). */
const FIRST_BYTES_MS = 10_000

/** Clients named by a trusted peer's header, by the connection's remote address and port (the same on a TLS socket). */
const claimed = new Map<string, { readonly client: string }>()

const keyOf = (address: string | undefined, port: number | undefined): string => `${address ?? ''}|${port ?? 0}`

/**
 * The peer of a connection, normalised: the client a trusted peer's PROXY v2 header named, else the TCP peer. Works
 * for the accepted socket, the TLS socket around it and an HTTP/2 session's socket alike.
 */
export function peerOf (socket: { readonly remoteAddress?: string | undefined, readonly remotePort?: number | undefined } | undefined): string {
  if (socket === undefined) return ''
  if (claimed.size > 0) {
    const c = claimed.get(keyOf(socket.remoteAddress, socket.remotePort))
    if (c !== undefined) return c.client
  }
  return normaliseAddress(socket.remoteAddress ?? '')
}

/** What the first bytes of a connection are. */
type First =
  | { readonly kind: 'more' }
  | { readonly kind: 'none' }
  | { readonly kind: 'bad' }
  | { readonly kind: 'header', readonly length: number, readonly client: string | undefined }

/**
 * Reads a v2 header at the start of `b`: `more` while `b` may still become one, `none` when it is not one, `bad` for
 * a header that breaks the format, else its length and the source address it carries (undefined for LOCAL, or a
 * family other than TCP/UDP over IPv4 or IPv6: the connection's own peer stands).
 */
export function parseProxyV2 (b: Buffer): First {
  const n = Math.min(b.length, SIGNATURE.length)
  if (!b.subarray(0, n).equals(SIGNATURE.subarray(0, n))) return { kind: 'none' }
  if (b.length < FIXED) return { kind: 'more' }
  const verCmd = b[12]!
  if (verCmd >> 4 !== 2) return { kind: 'bad' }
  const cmd = verCmd & 0x0f
  if (cmd > 1) return { kind: 'bad' }
  const len = b.readUInt16BE(14)
  if (len > MAX_BODY) return { kind: 'bad' }
  if (b.length < FIXED + len) return { kind: 'more' }
  const family = b[13]! >> 4
  const transport = b[13]! & 0x0f
  if (cmd === 0 || (transport !== 1 && transport !== 2)) return { kind: 'header', length: FIXED + len, client: undefined }
  if (family === 1) {
    if (len < 12) return { kind: 'bad' }
    return { kind: 'header', length: FIXED + len, client: addressFromBytes(bytesAt(b, FIXED, 4)) }
  }
  if (family === 2) {
    if (len < 36) return { kind: 'bad' }
    return { kind: 'header', length: FIXED + len, client: addressFromBytes(bytesAt(b, FIXED, 16)) }
  }
  return { kind: 'header', length: FIXED + len, client: undefined }
}

/** `b[at, at + n)` as an ArrayBuffer of its own (what addressFromBytes reads). */
function bytesAt (b: Buffer, at: number, n: number): ArrayBuffer {
  const from = b.byteOffset + at
  return b.buffer.slice(from, from + n) as ArrayBuffer
}

/**
 * Takes a PROXY v2 header off the start of each connection before `next` (the HTTP, TLS or h2c server) sees it:
 * the first bytes are read, the header (if any) is dropped, the rest is put back. A broken header, or no first byte
 * within 10 s, closes the connection. `trusted`: whether the real peer (normalised) may name the client.
 */
export function takeProxyHeader (socket: Socket, trusted: (peer: string) => boolean, next: (socket: Socket) => void): void {
  socket.on('error', () => {})
  let got: Buffer = Buffer.alloc(0)
  const timer = setTimeout(() => { socket.destroy() }, FIRST_BYTES_MS)
  const onReadable = (): void => {
    let chunk: Buffer | null
    while ((chunk = socket.read() as Buffer | null) !== null) got = got.length === 0 ? chunk : Buffer.concat([got, chunk])
    const first = parseProxyV2(got)
    if (first.kind === 'more') return
    socket.off('readable', onReadable)
    socket.off('end', onEnd)
    clearTimeout(timer)
    if (first.kind === 'bad') { socket.destroy(); return }
    let rest = got
    if (first.kind === 'header') {
      rest = got.subarray(first.length)
      const peer = normaliseAddress(socket.remoteAddress ?? '')
      if (first.client !== undefined && first.client !== '' && trusted(peer)) remember(socket, first.client)
    }
    if (rest.length > 0) socket.unshift(rest)
    next(socket)
  }
  const onEnd = (): void => { clearTimeout(timer); socket.destroy() }
  socket.on('readable', onReadable)
  socket.once('end', onEnd)
}

function remember (socket: Socket, client: string): void {
  const key = keyOf(socket.remoteAddress, socket.remotePort)
  const entry = { client } // its identity tells this connection's entry from a later one on the same address and port
  claimed.set(key, entry)
  socket.once('close', () => { if (claimed.get(key) === entry) claimed.delete(key) })
}
