// The fuzzer: for a fixed time, a bounded number of sockets send random and mutated HTTP/1.1 request bytes to a
// proxy (split writes, random pauses, abrupt resets) and count what comes back. Seeded, so a run reproduces.
import { createServer } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { once } from 'node:events'

export interface FuzzOptions {
  /** Proxy port on 127.0.0.1. */
  readonly port: number
  readonly durationMs: number
  readonly seed: number
  /** Concurrent sockets (default 32). */
  readonly concurrency?: number
  /** Longest wait for the proxy after the last write before giving up on a connection (default 600 ms). */
  readonly patienceMs?: number
}

export interface FuzzStats {
  seed: number
  connections: number
  bytesSent: number
  bytesReceived: number
  /** Complete response status lines seen, by class ('1xx' … '5xx'). */
  responses: Record<string, number>
  /** The proxy closed the connection (FIN). */
  closedByProxy: number
  /** The proxy reset the connection (or a write failed). */
  resetByProxy: number
  /** We reset it on purpose, mid-request. */
  resetByUs: number
  /** 5xx answers by exact status (502/504 come from the backend side; 500 is a fault of ours). */
  serverErrors: Record<string, number>
  /** Requests that got a 500 (SWY_INTERNAL: a fault in the proxy), as sent. */
  internal: string[]
  /** We gave up waiting and closed it (uWS's own idle timeout is ~12 s: docs/uws.md §3). */
  gaveUp: number
}

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export type Rand = () => number
const int = (r: Rand, n: number): number => Math.floor(r() * n)
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!
const chance = (r: Rand, p: number): boolean => r() < p

// Each list: what uWS takes, then (picked with probability `odd`) what it should not.
const METHODS = [['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'], ['TRACE', 'CONNECT', 'PURGE', 'PROPFIND', 'get', 'Post', 'G\x00T', '']] as const
const PATHS = [['/', '/a', '/a/b?c=1&d', '/a/../b', '/%2e%2e/admin', '/a%2fb', '//x', '/?' + 'q'.repeat(300)], ['/a\\b', '/caf\xc3\xa9', '/a#frag', '*', 'http://app.test/a', '/a b', '/%00', '/a\x7f']] as const
const VERSIONS = [['HTTP/1.1'], ['HTTP/1.0', 'HTTP/2.0', 'http/1.1', 'HTTP/1.1 ', 'HTTP/1.12']] as const
const HEADERS = [[
  'Content-Length: 5', 'Content-Length: 0', 'Transfer-Encoding: chunked', 'Transfer-Encoding:\tchunked', 'Connection: close',
  'Connection: keep-alive', 'Connection: close, x-a', 'Expect: 100-continue', 'X-Forwarded-For: 203.0.113.9', 'X-Forwarded-Proto: https',
  'Via: 1.1 elsewhere', 'Cookie: a=b; c=d', 'Upgrade: websocket', 'Upgrade: h2c', 'TE: trailers', 'Keep-Alive: timeout=5',
  'Content-Type: text/plain', 'X-Request-Id: fuzz', 'X-Utf8: caf\xc3\xa9', 'Expect: nonsense', 'Host: other.test'
], [
  'Content-Length: -1', 'Content-Length: 5, 5', 'Content-Length: 99999999999999999999', 'Transfer-Encoding: xchunked',
  'Transfer-Encoding: chunked, identity', ': empty-name', 'X_Under: 1', 'X-Sp : 1', ' X-Lead: 1', 'X-Fold: a\r\n b', 'X-Ctl: a\x01b'
]] as const
const odd = <T>(r: Rand, lists: readonly [readonly T[], readonly T[]], p = 0.1): T => pick(r, lists[chance(r, p) ? 1 : 0])
const SPECIALS = ['\r', '\n', '\r\n', '\x00', ' ', ':', '\t', '\x7f', '\xff', ';', ',', '0', '\r\n\r\n']

/** A chunked body, mostly valid, sometimes with the framing bent. */
function chunked (r: Rand): string {
  let s = ''
  const n = int(r, 4)
  for (let i = 0; i < n; i++) {
    const len = int(r, 40) + 1
    const size = chance(r, 0.1) ? pick(r, ['zz', '-1', 'ffffffffffffffffff', `${len.toString(16)};ext=1`, `0x${len.toString(16)}`, ' ' + len.toString(16)]) : len.toString(16)
    s += `${size}\r\n${'d'.repeat(chance(r, 0.1) ? Math.max(0, len + int(r, 5) - 2) : len)}${chance(r, 0.05) ? 'XX' : '\r\n'}`
  }
  return s + (chance(r, 0.1) ? '0\r\nX-Trailer: 1\r\n\r\n' : chance(r, 0.1) ? '' : '0\r\n\r\n')
}

/** One request: a mostly well-formed template, then byte-level mutations. */
export function request (r: Rand): Buffer {
  if (chance(r, 0.04)) return Buffer.from(Array.from({ length: int(r, 600) }, () => int(r, 256)))
  const method = odd(r, METHODS)
  const lines = [`${method} ${odd(r, PATHS)} ${odd(r, VERSIONS)}`]
  if (!chance(r, 0.05)) lines.push('Host: app.test')
  const extra = int(r, 5)
  for (let i = 0; i < extra; i++) lines.push(odd(r, HEADERS))
  if (chance(r, 0.03)) for (let i = 0; i < 50; i++) lines.push(`X-Many-${i}: v`)
  if (chance(r, 0.03)) lines.push(`X-Big: ${'b'.repeat(int(r, 8000))}`)
  let body = ''
  const framing = int(r, 4)
  if (framing === 1) {
    const len = chance(r, 0.7) ? int(r, 2000) : int(r, 100_000)
    body = 'p'.repeat(chance(r, 0.8) ? len : int(r, len + 10))
    lines.push(`Content-Length: ${len}`)
  } else if (framing === 2) {
    lines.push('Transfer-Encoding: chunked')
    body = chunked(r)
  }
  // Duplicate or drop header lines.
  if (chance(r, 0.15)) lines.splice(1 + int(r, lines.length - 1), 0, lines[1 + int(r, lines.length - 1)] ?? '')
  if (chance(r, 0.1) && lines.length > 2) lines.splice(1 + int(r, lines.length - 1), 1)
  let text = lines.join(chance(r, 0.03) ? '\n' : '\r\n') + '\r\n\r\n' + body
  if (chance(r, 0.15)) text += request(r).toString('latin1') // pipelined
  const bytes = Buffer.from(text, 'latin1')
  return mutate(r, bytes)
}

export function mutate (r: Rand, b: Buffer): Buffer {
  let out = b
  const n = chance(r, 0.6) ? 0 : int(r, 4) + 1
  for (let i = 0; i < n && out.length > 0; i++) {
    const at = int(r, out.length)
    switch (int(r, 4)) {
      case 0: { // flip a byte
        const c = Buffer.from(out)
        c[at] = c[at]! ^ (1 << int(r, 8))
        out = c
        break
      }
      case 1: // insert a special
        out = Buffer.concat([out.subarray(0, at), Buffer.from(pick(r, SPECIALS), 'latin1'), out.subarray(at)])
        break
      case 2: // delete a few bytes
        out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + 1 + int(r, 8)))])
        break
      default: // truncate
        out = out.subarray(0, at)
    }
  }
  return out
}

const STATUS = /(?:^|\r\n)HTTP\/1\.1 (([1-5])\d\d) /g

/** One connection: send `bytes` in random pieces, maybe reset, then read until the proxy closes or patience ends. */
async function connection (o: FuzzOptions, r: Rand, s: FuzzStats): Promise<void> {
  const bytes = request(r)
  const patience = o.patienceMs ?? 600
  const socket = connect(o.port, '127.0.0.1')
  socket.setNoDelay(true)
  s.connections++
  let received = ''
  let closed = false
  let wake: (() => void) | null = null
  const poke = (): void => { const w = wake; wake = null; w?.() }
  socket.on('data', (d: Buffer) => { s.bytesReceived += d.length; received += d.toString('latin1'); poke() })
  socket.on('end', () => { if (!closed) { closed = true; s.closedByProxy++ } socket.end(); poke() })
  socket.on('error', () => { if (!closed) { closed = true; s.resetByProxy++ } poke() })
  socket.on('close', () => { closed = true; poke() })
  const sleep = async (ms: number): Promise<void> => {
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { wake = null; resolve() }, ms)
      wake = () => { clearTimeout(t); resolve() }
    })
  }
  await new Promise<void>((resolve) => { socket.once('connect', resolve); socket.once('error', () => { resolve() }) })
  const cuts = [...new Set(Array.from({ length: int(r, 4) }, () => int(r, bytes.length + 1)))].sort((a, b) => a - b)
  const resetAt = chance(r, 0.15) ? int(r, cuts.length + 1) : -1
  let from = 0
  const pieces = [...cuts, bytes.length]
  for (let i = 0; i < pieces.length && !closed; i++) {
    if (i === resetAt) {
      s.resetByUs++
      closed = true
      socket.resetAndDestroy()
      return
    }
    const piece = bytes.subarray(from, pieces[i])
    from = pieces[i]!
    if (piece.length > 0) { socket.write(piece); s.bytesSent += piece.length }
    if (i < pieces.length - 1 && chance(r, 0.5)) await sleep(int(r, 30))
  }
  const deadline = Date.now() + patience
  let seen = -1
  while (!closed && Date.now() < deadline) {
    const before = received.length
    await sleep(Math.min(200, deadline - Date.now()))
    // Answered and quiet for a while: enough, unless more is still coming.
    if (received.length > 0 && received.length === before && received.length === seen) break
    seen = received.length
  }
  if (!closed) { s.gaveUp++; closed = true }
  for (const m of received.matchAll(STATUS)) {
    s.responses[`${m[2]!}xx`] = (s.responses[`${m[2]!}xx`] ?? 0) + 1
    if (m[2] === '5') s.serverErrors[m[1]!] = (s.serverErrors[m[1]!] ?? 0) + 1
    if (m[1] === '500') s.internal.push(JSON.stringify(bytes.toString('latin1').slice(0, 300)))
  }
  socket.destroy()
}

/** Runs the fuzzer for `durationMs` and resolves its counts. Never throws for what the proxy does. */
export async function fuzz (o: FuzzOptions): Promise<FuzzStats> {
  const s: FuzzStats = { seed: o.seed, connections: 0, bytesSent: 0, bytesReceived: 0, responses: {}, serverErrors: {}, closedByProxy: 0, resetByProxy: 0, resetByUs: 0, gaveUp: 0, internal: [] }
  const end = Date.now() + o.durationMs
  const lanes = o.concurrency ?? 32
  // One stream of randomness per lane, derived from the seed: a lane's requests do not depend on timing elsewhere.
  await Promise.all(Array.from({ length: lanes }, async (_, lane) => {
    const r = prng((o.seed ^ Math.imul(lane + 1, 0x9e3779b1)) >>> 0)
    while (Date.now() < end) await connection(o, r, s)
  }))
  return s
}

/** Worker pids, restarts and in-flight upstream requests from the admin API's /api/status. */
export interface Vitals {
  readonly pids: number[]
  readonly restarts: number
  readonly inflight: number
}

export async function vitals (adminUrl: string): Promise<Vitals> {
  const res = await fetch(`${adminUrl}/api/status`)
  const s = await res.json() as {
    restarts: { recent: number }
    workers: Array<{ pid: number }>
    upstreams: Record<string, { servers: Array<{ inflight: number }> }>
  }
  let inflight = 0
  for (const u of Object.values(s.upstreams)) for (const x of u.servers) inflight += x.inflight
  return { pids: s.workers.map((w) => w.pid).sort((a, b) => a - b), restarts: s.restarts.recent, inflight }
}

/** Sends one plain GET on a fresh connection; resolves the status, or 0 when none came within 5 s. */
export async function plainStatus (port: number, path = '/fuzz-check'): Promise<number> {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  socket.write(`GET ${path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`)
  let text = ''
  return await new Promise<number>((resolve) => {
    const t = setTimeout(() => { socket.destroy(); resolve(0) }, 5000)
    socket.on('data', (d: Buffer) => { text += d.toString('latin1') })
    socket.on('close', () => { clearTimeout(t); resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)) })
  })
}

export interface FuzzBackend {
  readonly url: string
  /** Requests node:http parsed and answered. */
  readonly requests: () => number
  /** What node:http's strict parser refused from the proxy (HPE_* codes): each one a framing bug of ours. */
  readonly parseErrors: string[]
  close (): Promise<void>
}

/** The backend behind the fuzzed proxy: node:http (strict llhttp), reads every body, answers 200 `ok`. */
export async function startFuzzBackend (): Promise<FuzzBackend> {
  let requests = 0
  const parseErrors: string[] = []
  const server = createServer({ maxHeaderSize: 1 << 20 }, (req, res) => {
    req.on('error', () => {})
    req.resume()
    req.on('end', () => { requests++; res.end('ok') })
  })
  server.on('clientError', (err: Error & { code?: string }, socket) => {
    const raw = (err as { rawPacket?: Buffer }).rawPacket
    // Not ours: a body cut short (the proxy aborting an upload its client abandoned), and non-ASCII bytes in the
    // target, which Switchyard passes on as sent (README) and llhttp refuses.
    const cut = err.code === 'HPE_INVALID_EOF_STATE'
    const nonAscii = err.code === 'HPE_INVALID_URL' && raw !== undefined && /[\x80-\xff]/.test(raw.subarray(0, raw.indexOf('\r\n')).toString('latin1'))
    if (err.code?.startsWith('HPE_') === true && !cut && !nonAscii) {
      parseErrors.push(`${err.code}: ${err.message}${raw === undefined ? '' : ` in ${JSON.stringify(raw.toString("latin1").slice(Math.max(0, ((err as { bytesParsed?: number }).bytesParsed ?? 0) - 200), ((err as { bytesParsed?: number }).bytesParsed ?? 0) + 100))}`}`)
    }
    socket.destroy()
  })
  server.keepAliveTimeout = 65_000
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    parseErrors,
    async close () {
      server.closeAllConnections()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    }
  }
}
