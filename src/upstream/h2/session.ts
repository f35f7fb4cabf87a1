// One HTTP/2 session per backend server and worker (h2: TLS with ALPN h2; h2c: cleartext with prior knowledge),
// opened on first use and again once the server sent GOAWAY or the connection closed. Requests wait here for the
// session's connect, so a refused or failed connect reaches each of them with its own code (ECONNREFUSED, a TLS
// error), before any byte of theirs was sent: safe to retry elsewhere.
//
// node:http2 rather than undici's HTTP/2 (Client allowH2, H2CClient with useH2c), which 7.30.2 has: with it, a
// node:http2 backend's trailers arrived as {} (grpc-status lost), and a response read with pause/resume (our
// backpressure) ended 36 bytes short of 2 MiB. A proxy must relay both, so the stream is driven here directly.
import { connect, type ClientHttp2Session } from 'node:http2'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import { isIP } from 'node:net'
import { readFileSync } from 'node:fs'
import type { UpstreamConfig } from '../../config/index.ts'
import { UpstreamFailure } from '../client/index.ts'

/** How to reach one HTTP/2 server, fixed per config generation. */
export interface H2Address {
  /** `http://host:port` (h2c) or `https://host:port` (h2). */
  readonly origin: string
  /**
   * node:tls options for h2 (address, CA, SNI name, verification, client certificate), else undefined. The socket is
   * opened with them directly (createConnection): http2.connect would send the URL's IP address as SNI.
   */
  readonly tls: ConnectionOptions | undefined
  readonly connectMs: number
  readonly idleMs: number
}

/** The upstream's TLS settings as pool.ts applies them to HTTP/1.1, with ALPN offering h2 only. */
export function h2Address (u: UpstreamConfig, url: string): H2Address {
  const parsed = new URL(url)
  const t = u.tls
  const timeouts = { connectMs: u.timeouts.connect, idleMs: u.timeouts.idle }
  if (parsed.protocol !== 'https:') return { origin: parsed.origin, tls: undefined, ...timeouts }
  const host = parsed.hostname.replace(/^\[|\]$/g, '')
  // The SNI name is tls.servername, else the URL's host name (none for an IP address, RFC 6066 §3); the certificate
  // is checked against that same name, or the address.
  const sni = t?.servername ?? (isIP(host) === 0 ? host : undefined)
  const tls: ConnectionOptions = {
    host,
    port: parsed.port === '' ? 443 : Number(parsed.port),
    rejectUnauthorized: t?.verify ?? true,
    ALPNProtocols: ['h2'],
    ...(sni === undefined ? {} : { servername: sni }),
    ...(t?.ca === undefined ? {} : { ca: readFileSync(t.ca) }),
    ...(t?.cert === undefined || t.key === undefined ? {} : { cert: readFileSync(t.cert), key: readFileSync(t.key) }),
    ...(t?.passphrase === undefined ? {} : { passphrase: t.passphrase })
  }
  return { origin: parsed.origin, tls, ...timeouts }
}

/** Gets the session a request goes out on, or why there is none. */
export type SessionWaiter = (session: ClientHttp2Session | null, err: UpstreamFailure | null) => void

export class H2Server {
  readonly address: H2Address
  #session: ClientHttp2Session | null = null
  #connected = false
  #waiting: SessionWaiter[] = []
  #closing = false
  /** Sessions still carrying streams, the current one included: what close() waits for. */
  readonly #all = new Set<ClientHttp2Session>()

  constructor (address: H2Address) {
    this.address = address
  }

  /** Calls `cb` with a connected session (opening one when there is none), or with the failure to connect. */
  session (cb: SessionWaiter): void {
    if (this.#closing) { cb(null, new UpstreamFailure('UPSTREAM_CLOSED', 'the pool is closed')); return }
    const s = this.#session
    if (s !== null && this.#connected) { cb(s, null); return }
    this.#waiting.push(cb)
    if (s === null) this.#open()
  }

  #open (): void {
    const a = this.address
    const tls = a.tls
    const s = tls === undefined ? connect(a.origin) : connect(a.origin, { createConnection: () => tlsConnect(tls) })
    this.#session = s
    this.#connected = false
    this.#all.add(s)
    const timer = setTimeout(() => {
      s.destroy(new UpstreamFailure('UPSTREAM_CONNECT_TIMEOUT', `no HTTP/2 connection within ${a.connectMs} ms`))
    }, a.connectMs)
    s.once('connect', () => {
      clearTimeout(timer)
      if (this.#session !== s) return
      // TLS without h2 by ALPN: the server would read our preface as a broken HTTP/1.1 request.
      if (a.tls !== undefined && s.alpnProtocol !== 'h2') {
        s.destroy(new UpstreamFailure('UPSTREAM_BAD_RESPONSE', `the server did not negotiate h2 by ALPN (got ${String(s.alpnProtocol)})`))
        return
      }
      this.#connected = true
      // Idle (no frames either way) past timeouts.idle: closed gracefully; the next request opens a new one.
      s.setTimeout(a.idleMs, () => { this.#retire(s); s.close() })
      for (const cb of this.#waiting.splice(0)) cb(s, null)
    })
    // GOAWAY: streams it lets finish go on; new ones need a new session (RFC 9113 §6.8).
    s.on('goaway', () => { this.#retire(s) })
    s.on('error', (err: Error) => {
      clearTimeout(timer)
      if (this.#session !== s || this.#connected) return
      this.#retire(s)
      const failure = err instanceof UpstreamFailure ? err : new UpstreamFailure((err as { code?: string }).code ?? 'UPSTREAM_CLOSED', err.message, err)
      for (const cb of this.#waiting.splice(0)) cb(null, failure)
    })
    s.on('close', () => {
      clearTimeout(timer)
      this.#all.delete(s)
      const waited = this.#session === s && !this.#connected
      this.#retire(s)
      if (waited) for (const cb of this.#waiting.splice(0)) cb(null, new UpstreamFailure('UPSTREAM_CLOSED', 'the connection closed before HTTP/2 was set up'))
    })
  }

  /** Takes `s` out of use for new streams. */
  #retire (s: ClientHttp2Session): void {
    if (this.#session !== s) return
    this.#session = null
    this.#connected = false
  }

  /** Takes no more requests; closes the sessions once their streams end, destroying what is left after `graceMs`. */
  async close (graceMs: number): Promise<void> {
    this.#closing = true
    for (const cb of this.#waiting.splice(0)) cb(null, new UpstreamFailure('UPSTREAM_CLOSED', 'the pool closed'))
    const open = [...this.#all]
    this.#session = null
    await Promise.all(open.map(async (s) => {
      if (s.destroyed) return
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { s.destroy() }, graceMs)
        s.once('close', () => { clearTimeout(t); resolve() })
        s.close()
      })
    }))
  }
}

/** One session holder per server of `u`. */
export function createH2Servers (u: UpstreamConfig): H2Server[] {
  return u.servers.map((s) => new H2Server(h2Address(u, s.url)))
}

export async function closeH2Servers (servers: readonly H2Server[], graceMs: number): Promise<void> {
  await Promise.all(servers.map(async (s) => { await s.close(graceMs) }))
}
