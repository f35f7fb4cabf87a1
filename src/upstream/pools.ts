// One undici Pool per backend server, with keep-alive; undici owns the deadlines (no per-request timers).
// https:// servers get the upstream's TLS settings: CA, SNI name, verification (on unless `verify: false`), client cert.
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { Pool, buildConnector, type Dispatcher } from 'undici'
import type { UpstreamConfig } from '../config/index.ts'

/** How to connect to one server: undici's `connect` option, and the fixed SNI name every request must carry. */
export interface ServerConnect {
  readonly connect: buildConnector.connector | { timeout: number }
  /** For https:// servers: the name requests are dispatched with (see FixedNamePool); undefined for http://. */
  readonly servername: string | undefined
}

/**
 * undici's connect settings for `url`. Files are read here, so each generation picks up replaced ones. The SNI name
 * is `tls.servername`, else the URL's host name (none for an IP address); never the client's Host, which undici
 * would otherwise take from the forwarded Host header (and verify the server's certificate against).
 */
export function serverConnect (u: UpstreamConfig, url: string): ServerConnect {
  const timeout = u.timeouts.connect
  if (!url.startsWith('https:')) return { connect: { timeout }, servername: undefined }
  const t = u.tls
  const hostname = new URL(url).hostname.replace(/^\[|\]$/g, '')
  const sni = t?.servername ?? (isIP(hostname) === 0 ? hostname : undefined)
  const base = buildConnector({
    timeout,
    rejectUnauthorized: t?.verify ?? true,
    ...(t?.ca === undefined ? {} : { ca: readFileSync(t.ca) }),
    ...(t?.cert === undefined || t.key === undefined ? {} : { cert: readFileSync(t.cert), key: readFileSync(t.key) }),
    ...(t?.passphrase === undefined ? {} : { passphrase: t.passphrase }),
    // undici's own session cache is per connector: one per server.
    maxCachedSessions: 100
  })
  const connect: buildConnector.connector = (opts, cb) => { base({ ...opts, servername: sni as string }, cb) }
  return { connect, servername: sni ?? hostname }
}

/**
 * A Pool whose requests all carry the same `servername`. undici derives a request's servername from its Host
 * header and drops the connection whenever it changes; with preserve_host every client Host would do that.
 */
class FixedNamePool extends Pool {
  readonly #servername: string

  constructor (url: string, options: Pool.Options, servername: string) {
    super(url, options)
    this.#servername = servername
  }

  override dispatch (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return super.dispatch({ ...opts, servername: this.#servername } as Dispatcher.DispatchOptions, handler)
  }
}

export function createPools (u: UpstreamConfig): Pool[] {
  return u.servers.map((s) => {
    const { connect, servername } = serverConnect(u, s.url)
    const options: Pool.Options = {
      connections: u.connections,
      pipelining: 1,
      keepAliveTimeout: u.timeouts.idle,
      keepAliveMaxTimeout: u.timeouts.idle,
      headersTimeout: u.timeouts.response,
      bodyTimeout: u.timeouts.response,
      connect
    }
    return servername === undefined ? new Pool(s.url, options) : new FixedNamePool(s.url, options, servername)
  })
}

/** Closes pools after their in-flight requests finish; destroys what is left after `graceMs`. */
export async function closePools (pools: readonly Pool[], graceMs: number): Promise<void> {
  await Promise.all(pools.map(async (p) => {
    const t = setTimeout(() => { p.destroy().catch(() => {}) }, graceMs)
    try { await p.close() } catch {} finally { clearTimeout(t) }
  }))
}
