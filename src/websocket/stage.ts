// The WebSocket stage: a handshake that passed the route's limits, access lists and rate limit is balanced like a
// request (the balance or sticky stage), then connected to the backend first and only then upgraded, so the client
// gets the backend's answer: its subprotocol, or its refusal with status and body, or 502/504 (docs/uws.md §5).
import { Buffer } from 'node:buffer'
import WebSocket from 'ws'
import type { ClientRequest, IncomingMessage } from 'node:http'
import { UpstreamError } from '../errors/index.ts'
import { DONE, NEXT, type Exchange, type Stage, type Verdict } from '../pipeline/index.ts'
import { buildRequestHeaders, classifyUpstreamError, type RequestHeaderOptions, type ResponseHead, type UpstreamRuntime } from '../upstream/index.ts'
import type { Target } from '../balancer/index.ts'
import type { WebSocketConfig } from '../config/index.ts'
import { Relay, nullMeter, type RelaySet, type WsMeter } from './relay.ts'

/** Largest refusal body relayed to the client; the rest is dropped (a refusal page, not a download). */
const REFUSAL_BODY_MAX = 64 * 1024

export interface WebSocketStageOptions {
  readonly config: WebSocketConfig
  /** The route's balance (or sticky) stage: picks ex.target. */
  readonly balance: Stage
  readonly upstream: UpstreamRuntime<unknown>
  readonly requestHeaders: RequestHeaderOptions
  /** The route's response-header filter, for a refusal's head. */
  readonly filterResponse: (raw: readonly Buffer[], requestId: string, ex: Exchange) => ResponseHead
  readonly onUnreachable?: (ex: Exchange, target: Target) => void
  /** Connect plus response timeout of the upstream: the longest a backend handshake may take. */
  readonly handshakeMs: number
  /** TLS options for wss:// (from the upstream's `tls`). */
  readonly tls: { ca?: Buffer, servername?: string, rejectUnauthorized: boolean, cert?: Buffer, key?: Buffer, passphrase?: string }
  /** Open WebSockets this worker admits on the route (its share of limits.max_websockets); 0: no cap. */
  readonly maxOpen: number
  readonly relays: RelaySet
  readonly now: () => number
  /** The route's WebSocket counters for metrics (none when metrics are off). */
  readonly meter?: WsMeter
}

/**
 * Runs before the cache stage: plain requests pass on (one field test); handshakes end here. A route with
 * `websocket: false` refuses them with 400.
 */
/** Where relays of routes without metrics count (nothing reads it). */
const UNMETERED = nullMeter()

export function createWebSocketStage (o: WebSocketStageOptions): Stage {
  const open = { n: 0 }
  if (!o.config.enabled) {
    return { name: 'websocket', run: (ex) => ex.upgrade === null ? NEXT : ex.reject('SWY_WEBSOCKET_REFUSED') }
  }
  return {
    name: 'websocket',
    run (ex) {
      if (ex.upgrade === null) return NEXT
      if (o.maxOpen > 0 && open.n >= o.maxOpen) return ex.reject('SWY_WEBSOCKET_LIMIT')
      const v = o.balance.run(ex)
      if (v === DONE) return DONE
      if (v === NEXT) return connectFirst(ex, o, open)
      return v.then((r: Verdict) => r === DONE ? DONE : connectFirst(ex, o, open))
    }
  }
}

function connectFirst (ex: Exchange, o: WebSocketStageOptions, open: { n: number }): Verdict {
  open.n++
  ex.onFinish = () => { open.n-- }
  connect(ex, ex.target!, o)
  return DONE
}

/** `http://h:p` → `ws://h:p`, `https://` → `wss://`. */
function wsOrigin (url: string): string {
  return url.startsWith('https:') ? `wss:${url.slice(6)}` : `ws:${url.slice(5)}`
}

/** The backend handshake's headers as `ws` takes them (an object): repeated fields joined (cookies with `; `). */
function headerObject (flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i < flat.length; i += 2) {
    const n = flat[i]!
    // Per hop: the `ws` client writes its own key, version, extensions and the offered subprotocols.
    if (n.startsWith('sec-websocket-')) continue
    const v = flat[i + 1]!
    const had = out[n]
    out[n] = had === undefined ? v : `${had}${n === 'cookie' ? '; ' : ', '}${v}`
  }
  return out
}

function connect (ex: Exchange, target: Target, o: WebSocketStageOptions): void {
  const u = o.upstream
  const upgrade = ex.upgrade!
  ex.target = target
  ex.attempts++
  target.inflight++
  let settled = false
  let up: WebSocket
  const q = ex.query
  try {
    const headers = headerObject(buildRequestHeaders(ex, u.hosts[target.index]!, o.requestHeaders))
    const protocols = upgrade.protocols === '' ? [] : upgrade.protocols.split(',').map((s) => s.trim()).filter((s) => s !== '')
    const url = wsOrigin(target.url) + (q === '' ? ex.forwardPath : `${ex.forwardPath}?${q}`)
    up = new WebSocket(url, protocols, {
      headers,
      perMessageDeflate: false, // never assumed across hops
      maxPayload: o.config.max_message,
      followRedirects: false,
      ...(url.startsWith('wss:') ? o.tls : {})
    })
  } catch (err) {
    // What the client sent cannot be a backend handshake (a bad subprotocol list, a control byte in a value).
    target.inflight--
    ex.fail(new UpstreamError('SWY_BAD_REQUEST', target.url, false, err))
    return
  }
  const timer = setTimeout(() => { fail({ code: 'UPSTREAM_CONNECT_TIMEOUT' }) }, o.handshakeMs)
  const settle = (): boolean => {
    if (settled) return false
    settled = true
    clearTimeout(timer)
    ex.onAbort = null
    return true
  }
  ex.onAbort = () => {
    if (!settle()) return
    target.inflight--
    up.terminate()
  }
  const fail = (err: unknown): void => {
    if (!settle()) return
    target.inflight--
    up.removeAllListeners()
    up.on('error', () => {})
    up.terminate()
    if (ex.aborted) return
    const c = classifyUpstreamError(err)
    u.states.failure(target, (err as { code?: string }).code ?? c.code)
    if (c.retryable && ex.attempts <= u.retries) {
      const tried = ex.tried ?? (ex.tried = new Set())
      tried.add(target)
      const next = u.strategy.pick(ex, tried)
      if (next !== undefined) { connect(ex, next, o); return }
    }
    if (c.retryable && c.code !== 'SWY_UPSTREAM_RESET') o.onUnreachable?.(ex, target)
    ex.fail(new UpstreamError(c.code, target.url, c.retryable, err))
  }
  // Errors after the outcome (a refused handshake's socket destroyed, a late reset) have nowhere to go.
  up.on('error', () => {})
  up.once('error', fail)
  up.once('unexpected-response', (req: ClientRequest, res: IncomingMessage) => {
    if (!settle()) return
    target.inflight--
    u.states.response(target, res.statusCode ?? 502)
    relayRefusal(ex, o, req, res)
  })
  up.once('open', () => {
    if (!settle()) return
    u.states.response(target, 101)
    if (ex.aborted) { target.inflight--; up.terminate(); return }
    const relay = new Relay(ex, up, o.config, o.relays, o.now, o.meter ?? UNMETERED)
    // The backend chose (or not) among the client's subprotocols; the client gets that choice.
    const client = upgrade.accept(relay, up.protocol, o.config.deflate)
    if (client === null) { target.inflight--; up.terminate(); ex.clientAborted(); return }
    relay.start(client)
  })
}

/** The backend refused the upgrade: its status, filtered headers and (up to REFUSAL_BODY_MAX of its) body go to the client. */
function relayRefusal (ex: Exchange, o: WebSocketStageOptions, req: ClientRequest, res: IncomingMessage): void {
  const chunks: Buffer[] = []
  let size = 0
  const end = (): void => {
    req.destroy()
    if (ex.aborted || ex.finished) return
    const status = res.statusCode ?? 502
    const raw = res.rawHeaders.map((s) => Buffer.from(s, 'latin1'))
    const head = o.filterResponse(raw, ex.requestId, ex)
    const body = Buffer.concat(chunks)
    ex.status = status
    ex.bytesSent = body.length
    const d = ex.downstream
    d.start(status, head.headers, body.length)
    if (body.length > 0) d.write(body)
    d.end()
  }
  res.on('data', (c: Buffer) => { if (size < REFUSAL_BODY_MAX) { chunks.push(c.subarray(0, REFUSAL_BODY_MAX - size)); size += c.length } })
  res.once('end', end)
  res.once('error', end)
}
