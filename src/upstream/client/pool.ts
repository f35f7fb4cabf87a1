// One keep-alive pool per backend server: idle connections are reused newest first, new ones are opened up to the
// `connections` cap, and requests beyond it wait in order. https:// servers get the upstream's TLS settings: CA,
// SNI name, verification (on unless `verify: false`), client certificate, and TLS session resumption.
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import type { ConnectionOptions } from 'node:tls'
import type { UpstreamConfig } from '../../config/index.ts'
import type { UpstreamClock } from './clock.ts'
import {
  Connection, UpstreamFailure, type ConnectionOwner, type PendingCall, type ResponseHandler, type ServerAddress, type UpstreamRequest
} from './connection.ts'

/** One request's place in a pool: queued, or on a connection. */
export class Call implements PendingCall {
  readonly req: UpstreamRequest
  readonly handler: ResponseHandler
  conn: Connection | null = null
  staleRetried = false
  readonly #pool: ServerPool

  constructor (pool: ServerPool, req: UpstreamRequest, handler: ResponseHandler) {
    this.#pool = pool
    this.req = req
    this.handler = handler
  }

  /** The client side drained: read the response on. */
  resume (): void {
    this.conn?.resume()
  }

  /** The client went away: drop the request, and its connection if it had one (its framing is mid-response). */
  cancel (): void {
    const c = this.conn
    if (c !== null) {
      this.conn = null
      c.close()
    } else {
      this.#pool.unqueue(this)
    }
  }
}

/**
 * How to reach `url` with the upstream's settings. Files are read here, so each generation picks up replaced ones.
 * The SNI name is `tls.servername`, else the URL's host name (none for an IP address); never the client's Host,
 * and the server's certificate is verified against that same name.
 */
export function serverAddress (u: UpstreamConfig, url: string): ServerAddress {
  const parsed = new URL(url)
  const host = parsed.hostname.replace(/^\[|\]$/g, '')
  const https = parsed.protocol === 'https:'
  const port = parsed.port === '' ? (https ? 443 : 80) : Number(parsed.port)
  const timeouts = { connect: u.timeouts.connect, response: u.timeouts.response, idle: u.timeouts.idle }
  if (!https) return { host, port, tls: undefined, timeouts }
  const t = u.tls
  const sni = t?.servername ?? (isIP(host) === 0 ? host : undefined)
  const tls: ConnectionOptions = {
    rejectUnauthorized: t?.verify ?? true,
    ALPNProtocols: ['http/1.1'],
    ...(sni === undefined ? {} : { servername: sni }),
    ...(t?.ca === undefined ? {} : { ca: readFileSync(t.ca) }),
    ...(t?.cert === undefined || t.key === undefined ? {} : { cert: readFileSync(t.cert), key: readFileSync(t.key) }),
    ...(t?.passphrase === undefined ? {} : { passphrase: t.passphrase })
  }
  return { host, port, tls, timeouts }
}

export class ServerPool implements ConnectionOwner {
  readonly address: ServerAddress
  readonly clock: UpstreamClock
  tlsSession: Buffer | undefined = undefined
  readonly #cap: number
  /** Idle connections, the most recently used last (reused first: its socket is warm). */
  readonly #idle: Connection[] = []
  readonly #queue: Call[] = []
  #open = 0
  #closing = false
  #onIdle: (() => void) | null = null
  readonly #all = new Set<Connection>()

  constructor (address: ServerAddress, cap: number, clock: UpstreamClock) {
    this.address = address
    this.#cap = cap
    this.clock = clock
  }

  /** Sends `req`; the answer goes to `handler`. The returned call resumes or cancels it. */
  request (req: UpstreamRequest, handler: ResponseHandler): Call {
    const call = new Call(this, req, handler)
    if (this.#closing) {
      handler.onError(new UpstreamFailure('UPSTREAM_CLOSED', 'the pool is closed'), false)
      return call
    }
    const c = this.#idle.pop()
    if (c !== undefined) c.assign(call)
    else if (this.#open < this.#cap) this.#connect(call)
    else this.#queue.push(call)
    return call
  }

  #connect (call: PendingCall): void {
    const c = new Connection(this)
    this.#open++
    this.#all.add(c)
    c.assign(call)
  }

  unqueue (call: Call): void {
    const i = this.#queue.indexOf(call)
    if (i >= 0) this.#queue.splice(i, 1)
    this.#settled()
  }

  release (c: Connection): void {
    const next = this.#queue.shift()
    if (next !== undefined) { c.assign(next); return }
    if (this.#closing) { c.close(); return }
    this.#idle.push(c)
  }

  removed (c: Connection): void {
    if (!this.#all.delete(c)) return
    this.#open--
    const i = this.#idle.lastIndexOf(c)
    if (i >= 0) this.#idle.splice(i, 1)
    // A slot freed: the next waiting request gets a new connection.
    const next = this.#queue.shift()
    if (next !== undefined) this.#connect(next)
    else this.#settled()
  }

  retryStale (call: PendingCall): void {
    if (this.#closing) { call.handler.onError(new UpstreamFailure('UPSTREAM_CLOSED', 'the pool closed'), false); return }
    // Not counted against the cap's queue: it had its turn, and its connection's slot was just freed.
    this.#connect(call)
  }

  /** Connections open, in use, and requests waiting: for tests and status. */
  stats (): { open: number, busy: number, idle: number, queued: number } {
    return { open: this.#open, busy: this.#busy, idle: this.#idle.length, queued: this.#queue.length }
  }

  /** Connections carrying a request (or opening for one). */
  get #busy (): number { return this.#open - this.#idle.length }

  #settled (): void {
    if (this.#onIdle !== null && this.#busy === 0 && this.#queue.length === 0) this.#onIdle()
  }

  /** Takes no more requests; resolves once those in flight finished, cutting what is left after `graceMs`. */
  async close (graceMs: number): Promise<void> {
    this.#closing = true
    for (const c of this.#idle.splice(0)) c.close()
    if (this.#busy > 0 || this.#queue.length > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, graceMs)
        this.#onIdle = () => { clearTimeout(t); resolve() }
      })
    }
    this.#onIdle = null
    for (const call of this.#queue.splice(0)) call.handler.onError(new UpstreamFailure('UPSTREAM_CLOSED', 'the pool closed'), false)
    for (const c of [...this.#all]) c.abort(new UpstreamFailure('UPSTREAM_CLOSED', 'the pool closed'))
  }
}

/** One pool per server of `u`, sharing the runtime's clock. */
export function createPools (u: UpstreamConfig, clock: UpstreamClock): ServerPool[] {
  return u.servers.map((s) => new ServerPool(serverAddress(u, s.url), u.connections, clock))
}

/** Closes pools after their in-flight requests finish; cuts what is left after `graceMs`. */
export async function closePools (pools: readonly ServerPool[], graceMs: number): Promise<void> {
  await Promise.all(pools.map(async (p) => { await p.close(graceMs) }))
}
