// Every configuration key, declared once: type, default, bounds and the user-facing doc.
// zod is used here and nowhere else; validateConfig() turns its issues into path-exact problems for ConfigError.
import { z } from 'zod'
import { parseDuration, parseSize } from './units.ts'
import { parseCidr } from '../net/index.ts'
import { formatPath, type ConfigProblem } from './config-error.ts'

const DURATION = 'must be a duration such as 500ms, 2s, 1m or 1h'
// setTimeout (and undici's timers) treat anything above 2^31-1 ms as 1 ms.
const MAX_TIMER_MS = 2 ** 31 - 1

const duration = (fallback: string) => z.union([z.string(), z.number()], { error: DURATION })
  .default(fallback)
  .transform((v, ctx) => {
    const ms = parseDuration(v)
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: DURATION })
      return z.NEVER
    }
    if (ms > MAX_TIMER_MS) {
      ctx.addIssue({ code: 'custom', message: 'must be at most 596h (the longest timer Node.js can set)' })
      return z.NEVER
    }
    return ms
  })

const SIZE = 'must be a size such as 512b, 16kb or 10mb'

const size = (fallback: string) => z.union([z.string(), z.number()], { error: SIZE })
  .default(fallback)
  .transform((v, ctx) => {
    const bytes = parseSize(v)
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: SIZE })
      return z.NEVER
    }
    return bytes
  })

/** Why `s` is not a backend origin, or undefined when it is one. */
export function urlProblem (s: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(s)
  const why = m === null
    ? 'the scheme is missing'
    : m[1]!.toLowerCase() !== 'http' && m[1]!.toLowerCase() !== 'https'
      ? `${m[1]!}: is not supported`
      : m[2] === '' ? 'the host is missing' : undefined
  if (why !== undefined) return `must be an http(s) URL such as http://127.0.0.1:9001 (${why})`
  let u: URL
  try { u = new URL(s) } catch { return 'must be an http(s) URL such as http://127.0.0.1:9001 (this one does not parse)' }
  if (u.username !== '' || u.password !== '') return 'must be an http(s) URL without credentials'
  if (u.pathname !== '/' || u.search !== '' || u.hash !== '') return 'must be an http(s) URL without a path, query or fragment (routes decide the path)'
  return undefined
}

const httpUrl = z.string()
  .superRefine((s, ctx) => {
    const why = urlProblem(s)
    if (why !== undefined) ctx.addIssue({ code: 'custom', message: why })
  })
  .transform((s) => new URL(s).origin)

const HASH_BY = /^(ip|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+|cookie:[A-Za-z0-9!#$%&'*+.^_`|~-]+)$/
// RFC 9110 §5.6.2 token.
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/
const HOST = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i
/** Every balancing strategy's name (balancer/ builds them from these). */
export const BALANCE_KINDS = ['round-robin', 'weighted', 'least-conn', 'p2c', 'hash'] as const
export type BalanceKind = typeof BALANCE_KINDS[number]

/** `upstreams.NAME.protocol`: HTTP/1.1, HTTP/2 over TLS, HTTP/2 over cleartext with prior knowledge. */
export const UPSTREAM_PROTOCOLS = ['h1', 'h2', 'h2c'] as const
const WORKERS = 'must be auto or a whole number from 1 to 256'

// A TLS server name: lower-case (uWS matches SNI case-sensitively, docs/uws.md §4), `*.` for one label.
const SNI_HOST = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/
const FILE = z.string().min(1)

/**
 * One certificate offered by SNI: for clients whose server name is one of `hosts`. PEM files, read when the config
 * is loaded (checked there: readable, parseable, key matching the certificate) and again by every new generation.
 */
const sniCertificate = z.strictObject({
  /** Server names this certificate is offered for: exact (`a.example.com`) or one-label wildcard (`*.example.com`). */
  hosts: z.array(z.string()
    .transform((h) => h.toLowerCase().replace(/\.$/, ''))
    .refine((h) => SNI_HOST.test(h), 'must be a host name such as a.example.com, or *.example.com for one label under it'))
    .min(1, 'must list at least one host name'),
  /** Certificate chain, PEM (the leaf first, then intermediates). Relative paths are from the config file's directory. */
  cert: FILE,
  /** Private key, PEM. */
  key: FILE,
  /** Passphrase of an encrypted `key`. */
  passphrase: z.string().optional()
})

/**
 * TLS termination on this listener. `cert` and `key` are the certificate offered to every client (or, with
 * `certificates`, to clients sending no server name or one no entry lists). Without them the first entry of
 * `certificates` is the default.
 */
const listenTls = z.strictObject({
  /** Default certificate chain, PEM. Relative paths are from the config file's directory. */
  cert: FILE.optional(),
  /** Default private key, PEM. */
  key: FILE.optional(),
  /** Passphrase of an encrypted `key`. */
  passphrase: z.string().optional(),
  /** Certificates chosen by SNI. A request whose Host is not covered by the entry its SNI chose gets 421. */
  certificates: z.array(sniCertificate).default([])
}).superRefine((t, ctx) => {
  if (t.cert !== undefined && t.key === undefined) ctx.addIssue({ code: 'custom', path: ['key'], message: 'is required with cert' })
  if (t.key !== undefined && t.cert === undefined) ctx.addIssue({ code: 'custom', path: ['cert'], message: 'is required with key' })
  if (t.cert === undefined && t.key === undefined && t.certificates.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'must set cert and key, or list certificates' })
  }
  const seen = new Map<string, number>()
  t.certificates.forEach((c, i) => {
    c.hosts.forEach((h, j) => {
      const first = seen.get(h)
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['certificates', i, 'hosts', j], message: `${h} is already listed by certificates[${first}]` })
      else seen.set(h, i)
    })
  })
})

/**
 * Answer every request on this (plain HTTP) listener with a redirect to HTTPS instead of proxying it. A number is
 * the HTTPS port.
 */
const redirectHttps = z.preprocess((v) => typeof v === 'number' ? { port: v } : v, z.strictObject({
  /** The HTTPS port in the Location (left out of the URL when 443). */
  port: z.number().int().min(1).max(65535).default(443),
  /**
   * Host to redirect to when the request's Host is not one this proxy serves over TLS (not named by a route's
   * match.host nor covered by a certificate of the TLS listener on `port`). Absent: such requests get 421.
   */
  host: z.string().transform((h) => h.toLowerCase()).refine((h) => HOST.test(h) && !h.startsWith('*.'), 'must be a host name such as www.example.com').optional(),
  /** 308 (keeps the method and body; the default) or 301 (for very old clients; they may turn a POST into GET). */
  status: z.union([z.literal(301), z.literal(308)], { error: 'must be 301 or 308' }).default(308)
}))

const listen = z.strictObject({
  /** Address to bind. `0.0.0.0` (all IPv4), `::` (dual-stack) or one address. */
  host: z.string().min(1).default('0.0.0.0'),
  /** TCP port. Every worker binds it with SO_REUSEPORT. */
  port: z.number().int().min(1).max(65535),
  /** Terminate TLS here (see README "TLS"): `{ cert, key }` and/or `certificates` chosen by SNI. */
  tls: listenTls.optional(),
  /** Redirect every request to HTTPS (`redirect_https: 443` or `{ port, host, status }`) instead of proxying. */
  redirect_https: redirectHttps.optional(),
  /**
   * Which engine serves the listener (README "Engines"): `uws` (uWebSockets.js: the fastest HTTP/1.1) or `node`
   * (node:http and node:http2: HTTP/1.0, pipelining, chunk extensions and trailers, HTTP/2). Default: `node` on a
   * TLS listener with `http2` (the default there) or a plain one with `h2c`, else `uws`.
   */
  engine: z.enum(['uws', 'node'], { error: 'must be uws or node' }).optional(),
  /** TLS listeners only: offer HTTP/2 by ALPN beside HTTP/1.1 (node engine). Default true; false keeps uWS's TLS. */
  http2: z.boolean().optional(),
  /** Plain listeners only: also take HTTP/2 with prior knowledge (cleartext h2c, as gRPC clients speak it); node engine. */
  h2c: z.boolean().default(false)
}).superRefine((l, ctx) => {
  if (l.tls !== undefined && l.redirect_https !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['redirect_https'], message: 'is for plain HTTP listeners (this one has tls)' })
  }
  if (l.tls === undefined && l.http2 !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['http2'], message: 'is for TLS listeners (a plain listener takes cleartext HTTP/2 with h2c: true)' })
  }
  if (l.tls !== undefined && l.h2c) {
    ctx.addIssue({ code: 'custom', path: ['h2c'], message: 'is for plain listeners (a TLS listener negotiates HTTP/2 with http2)' })
  }
  if (l.engine === 'uws' && (l.h2c || (l.tls !== undefined && l.http2 === true))) {
    ctx.addIssue({ code: 'custom', path: ['engine'], message: 'uws cannot serve HTTP/2: use engine: node, or leave engine out' })
  }
})

/** The engine a listener runs on: see `listen[].engine`. */
export function listenerEngine (l: Pick<ListenConfig, 'tls' | 'engine' | 'http2' | 'h2c'>): 'uws' | 'node' {
  if (l.engine !== undefined) return l.engine
  if (l.tls !== undefined) return l.http2 === false ? 'uws' : 'node'
  return l.h2c ? 'node' : 'uws'
}

/** Whether a listener speaks HTTP/2: by ALPN on TLS, by prior knowledge (h2c) on a plain one. */
export function listenerHttp2 (l: Pick<ListenConfig, 'tls' | 'engine' | 'http2' | 'h2c'>): boolean {
  if (listenerEngine(l) !== 'node') return false
  return l.tls !== undefined ? l.http2 !== false : l.h2c
}

/**
 * HTTP/2 on the node engine's listeners: the SETTINGS each connection announces and the bounds past which a client
 * is cut with GOAWAY (README "HTTP/2").
 */
const http2 = z.strictObject({
  /** Streams a client may have open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
  max_concurrent_streams: z.number().int().min(1).max(10000).default(128),
  /** Each stream's receive window (SETTINGS_INITIAL_WINDOW_SIZE): request-body bytes a client may send ahead. */
  initial_window_size: size('64kb').refine((b) => b >= 1024 && b <= 2 ** 31 - 1, 'must be from 1kb to 2gb'),
  /** The largest frame a client may send (SETTINGS_MAX_FRAME_SIZE), from 16kb (the protocol's minimum) to 16mb. */
  max_frame_size: size('16kb').refine((b) => b >= 16384 && b <= 16777215, 'must be from 16kb to 16mb'),
  /** Memory one connection may use for its streams, headers and buffers before new streams are refused. */
  max_session_memory: size('10mb').refine((b) => b >= 1024 * 1024, 'must be at least 1mb'),
  /**
   * Streams a client may reset before their answer in a burst, and per second after it (rapid reset, CVE-2023-44487):
   * past them, GOAWAY ENHANCE_YOUR_CALM and the connection closes. Before Node 23 at most nghttp2's own 1000 and 33.
   */
  reset_burst: z.number().int().min(1).max(100000).default(1000),
  reset_rate: z.number().int().min(1).max(100000).default(33)
})

const server = z.strictObject({
  /** Origin of the backend server. */
  url: httpUrl,
  /** Relative share of requests for `weighted` and `hash` balancing. */
  weight: z.number().int().min(1).max(1000).default(1)
})

const EXPECT = 'must be HTTP statuses or ranges such as 200-399 or 200,204'

const health = z.strictObject({
  /** Path probed with GET, over a new connection each time, with the server's host as Host. */
  path: z.string().startsWith('/', 'must start with /').default('/'),
  /** Time from the end of one probe to the start of the next, per server. */
  interval: duration('2s'),
  /** A probe without a complete answer in this time failed. */
  timeout: duration('1s'),
  /** Consecutive passing probes that bring a down server back. */
  healthy: z.number().int().min(1).max(100).default(2),
  /** Consecutive failing probes that take a server out. */
  unhealthy: z.number().int().min(1).max(100).default(3),
  /** Statuses that pass: `200-399`, `200`, or a comma-separated list of both. */
  expect: z.union([z.string(), z.number()], { error: EXPECT }).default('200-399').transform((v, ctx) => {
    const ranges: Array<readonly [number, number]> = []
    for (const part of String(v).split(',')) {
      const m = /^\s*([1-5]\d\d)\s*(?:-\s*([1-5]\d\d)\s*)?$/.exec(part)
      const lo = m === null ? NaN : Number(m[1])
      const hi = m === null ? NaN : m[2] === undefined ? lo : Number(m[2])
      if (!(lo <= hi)) {
        ctx.addIssue({ code: 'custom', message: EXPECT })
        return z.NEVER
      }
      ranges.push([lo, hi])
    }
    return ranges
  }),
  /** When every server is down: send requests to all of them anyway (true) instead of answering 503 (false). */
  fail_open: z.boolean().default(false)
})

const passive = z.strictObject({
  /**
   * Consecutive failures (connection refused or reset, timeouts, 5xx answers) after which a worker stops sending
   * requests to the server for a while. 0 turns passive detection off.
   */
  failures: z.number().int().min(0).max(1000).default(5),
  /** How long the first ejection lasts; each further one doubles it, up to max_eject_for. */
  eject_for: duration('10s'),
  /** Longest ejection. After this long without one, the doubling starts again from eject_for. */
  max_eject_for: duration('5m'),
  /** Most servers of the upstream one worker may eject at once, in percent (at least one when there are two or more). */
  max_ejected_percent: z.number().int().min(0).max(100).default(50)
})

const COOKIE_NAME_REASON = 'must be a cookie name: an RFC 6265 token (letters, digits and !#$%&\'*+.^_`|~-)'
// RFC 6265 §4.1.1 path-value: any CHAR except CTLs and ';' (spaces refused too, so the attribute needs no quoting).
const COOKIE_PATH = /^\/[\x21-\x3a\x3c-\x7e]*$/
const COOKIE_ONLY = ['secure', 'http_only', 'same_site', 'path'] as const

/**
 * Sticky sessions: requests of one session keep reaching the server that served it first. Exactly one of `cookie`
 * (Switchyard issues the cookie) or `learn` (the backend's own session cookie is learned from its Set-Cookie).
 */
const sticky = z.strictObject({
  /** Name of the cookie Switchyard issues: a random, opaque session id (never the server's address). */
  cookie: z.string().regex(HEADER_NAME, COOKIE_NAME_REASON).optional(),
  /**
   * Name of the backend's session cookie (e.g. `JSESSIONID`). Its value in a response's Set-Cookie is mapped to the
   * server that answered; later requests carrying it go there (as HAProxy's `stick on` / `appsession`).
   */
  learn: z.string().regex(HEADER_NAME, COOKIE_NAME_REASON).optional(),
  /**
   * How long an idle session's mapping is kept (sliding: each worker renews it at most once per ttl/2, so a session
   * idle for less than ttl/2 never expires). Also the issued cookie's Max-Age.
   */
  ttl: duration('30m').refine((ms) => ms >= 1000, 'must be at least 1s'),
  /** With `cookie`: add `Secure` to the issued cookie (sent over HTTPS only). */
  secure: z.boolean().optional(),
  /** With `cookie`: add `HttpOnly` (scripts cannot read the cookie). Default true. */
  http_only: z.boolean().optional(),
  /** With `cookie`: the cookie's SameSite: `lax` (default), `strict` or `none` (`none` requires `secure: true`). */
  same_site: z.enum(['lax', 'strict', 'none']).optional(),
  /** With `cookie`: the cookie's Path. Default `/`. */
  path: z.string().regex(COOKIE_PATH, 'must be a cookie path: starts with / and has no spaces, ; or control characters').optional()
}).superRefine((s, ctx) => {
  if ((s.cookie === undefined) === (s.learn === undefined)) ctx.addIssue({ code: 'custom', message: 'set exactly one of cookie or learn' })
  if (s.learn !== undefined) {
    for (const k of COOKIE_ONLY) {
      if (s[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'is only used with sticky.cookie (learn mode sets no cookie of its own)' })
    }
  }
  if (s.same_site === 'none' && s.secure !== true) {
    ctx.addIssue({ code: 'custom', path: ['same_site'], message: 'none requires secure: true (browsers drop SameSite=None cookies without Secure)' })
  }
}).transform((s) => ({
  mode: s.cookie !== undefined ? 'cookie' as const : 'learn' as const,
  name: s.cookie ?? s.learn ?? '',
  ttl: s.ttl,
  secure: s.secure ?? false,
  httpOnly: s.http_only ?? true,
  sameSite: s.same_site ?? 'lax',
  path: s.path ?? '/'
}))

/** How Switchyard connects to `https://` servers. Files are PEM, checked at load, read again by each generation. */
const upstreamTls = z.strictObject({
  /** CA certificates that may sign the servers' certificates, instead of the system CAs. */
  ca: FILE.optional(),
  /**
   * Name sent as SNI and checked against the server's certificate. Default: the host of the server URL (an IP address
   * sends no SNI and is checked against the certificate's IP addresses). Never the client's Host.
   */
  servername: z.string().min(1).refine((h) => HOST.test(h) && !h.startsWith('*.'), 'must be a host name such as backend.internal').optional(),
  /** Check the server's certificate (chain and name). `false` accepts any certificate, and is logged as a warning. */
  verify: z.boolean().default(true),
  /** Client certificate chain, PEM, for servers that ask for one (mutual TLS). */
  cert: FILE.optional(),
  /** Private key of `cert`, PEM. */
  key: FILE.optional(),
  /** Passphrase of an encrypted `key`. */
  passphrase: z.string().optional()
}).superRefine((t, ctx) => {
  if (t.cert !== undefined && t.key === undefined) ctx.addIssue({ code: 'custom', path: ['key'], message: 'is required with cert' })
  if (t.key !== undefined && t.cert === undefined) ctx.addIssue({ code: 'custom', path: ['cert'], message: 'is required with key' })
})

const upstream = z.strictObject({
  /** How a server is picked for each request. */
  balance: z.enum(BALANCE_KINDS).default('round-robin'),
  /** For `balance: hash`: what is hashed. `ip`, `header:NAME` or `cookie:NAME`; a missing value hashes the client IP. */
  hash: z.strictObject({
    by: z.string().regex(HASH_BY, 'must be ip, header:NAME or cookie:NAME')
      // Header names are case-insensitive (RFC 9110 §5.1); cookie names are not.
      .transform((b) => b.startsWith('header:') ? b.toLowerCase() : b)
      .default('ip')
  }).optional(),
  /** The backend servers. */
  servers: z.array(server).default([]),
  /**
   * What Switchyard speaks to the servers: `h1` (HTTP/1.1, its own pooled client), `h2` (HTTP/2 over TLS, negotiated by
   * ALPN: `https://` servers only) or `h2c` (HTTP/2 over cleartext with prior knowledge: `http://` servers only, as
   * gRPC servers take it). HTTP/2 keeps one connection per server and worker (`connections` does not apply) and relays
   * response trailers to clients that speak HTTP/2. Health checks use the same protocol; WebSocket handshakes to the
   * servers stay HTTP/1.1.
   */
  protocol: z.enum(UPSTREAM_PROTOCOLS, { error: 'must be h1, h2 or h2c' }).default('h1'),
  /**
   * Service discovery: also send requests to the live members of this service in the registry (shared state), as
   * backends register them with `switchyard register` or the admin API. With `discover`, `servers` may be empty.
   */
  discover: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'must be a service name: 1 to 128 letters, digits, _, . or -').optional(),
  /**
   * How many other servers to try when a server refuses the connection or resets it before any response byte.
   * Only for idempotent requests without a body; a POST is never repeated.
   */
  retries: z.number().int().min(0).max(10).default(1),
  timeouts: z.strictObject({
    /** TCP (and TLS) connect timeout. */
    connect: duration('2s'),
    /** Time to the response headers, and the longest pause between two body chunks. Exceeded: 504. */
    response: duration('30s'),
    /** How long an idle keep-alive connection to the server is kept. */
    idle: duration('60s')
  }).prefault({}),
  /** Most connections per server per worker. */
  connections: z.number().int().min(1).max(10_000).default(256),
  /** Active health checks, run by the primary once per host. Absent: servers are always considered healthy. */
  health: health.optional(),
  /** Passive (outlier) detection in each worker, from the requests themselves. On by default. */
  passive: passive.prefault({}),
  /** Sticky sessions (see README "Sticky sessions"): `{ cookie: NAME, ttl: 30m }` or `{ learn: APP_COOKIE, ttl: 30m }`. */
  sticky: sticky.optional(),
  /** TLS to the `https://` servers (and their health checks). Verification is on by default, against the system CAs. */
  tls: upstreamTls.optional()
}).superRefine((u, ctx) => {
  // h2 is negotiated inside TLS, h2c is the cleartext form: a server URL of the other scheme cannot be spoken to.
  if (u.protocol === 'h1') return
  const scheme = u.protocol === 'h2' ? 'https:' : 'http:'
  u.servers.forEach((s, i) => {
    if (new URL(s.url).protocol !== scheme) {
      ctx.addIssue({ code: 'custom', path: ['servers', i, 'url'], message: `must be an ${scheme}// URL with protocol ${u.protocol} (${u.protocol === 'h2' ? 'h2c is HTTP/2 without TLS' : 'h2 is HTTP/2 over TLS'})` })
    }
  })
})

const RATE = 'must be a rate such as 100/s, 600/m or 1000/h'
const RATE_UNITS: Readonly<Record<string, number>> = { s: 1, sec: 1, second: 1, m: 60, min: 60, minute: 60, h: 3600, hour: 3600 }
const RL_KEY = /^(ip|route|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+|cookie:[A-Za-z0-9!#$%&'*+.^_`|~-]+)$/

const BAN_ACTION = 'must be 403 or close'

const ban = z.strictObject({
  /** Rejections by this rate limit that get a client banned: N or more within `within`, counted cluster-wide. */
  after: z.number().int().min(1).max(1_000_000),
  /** The fixed window the rejections are counted in. */
  within: duration('1m').refine((ms) => ms >= 100, 'must be at least 100ms'),
  /** How long the ban lasts. It applies on every route of the proxy, on every worker and host sharing state. */
  for: duration('10m').refine((ms) => ms >= 1000, 'must be at least 1s'),
  /**
   * What a banned client gets: `403` (SWY_BANNED, with Retry-After set to the seconds left) or `close` (the
   * connection is closed without an answer).
   */
  action: z.union([z.literal(403), z.literal('403'), z.literal('close')], { error: BAN_ACTION })
    .default(403)
    .transform((a): 403 | 'close' => a === 'close' ? 'close' : 403)
})

const rateLimit = z.strictObject({
  /**
   * What is counted: `ip` (the client address), `route` (one budget for the whole route), `header:NAME` or
   * `cookie:NAME` (a missing value counts against the client address).
   */
  key: z.string().regex(RL_KEY, 'must be ip, route, header:NAME or cookie:NAME')
    .transform((k) => k.startsWith('header:') ? k.toLowerCase() : k)
    .default('ip'),
  /** Sustained rate: `N/s`, `N/m` or `N/h` (N a whole number from 1). Global across workers and hosts sharing state. */
  rate: z.string({ error: RATE }).transform((v, ctx) => {
    const m = /^\s*(\d+)\s*\/\s*([a-z]+)\s*$/.exec(v)
    const unit = m === null ? undefined : RATE_UNITS[m[2]!]
    const count = m === null ? 0 : Number(m[1])
    if (unit === undefined || !Number.isSafeInteger(count) || count < 1) {
      ctx.addIssue({ code: 'custom', message: RATE })
      return z.NEVER
    }
    return { count, windowSec: unit }
  }),
  /** Requests admitted at once after a quiet period (the bucket size). Default: one second's worth, at least 1. */
  burst: z.number().int().min(1).max(1_000_000_000).optional(),
  /**
   * Ban clients this limit keeps refusing (fail2ban-style): `after` rejections `within` a window bans the key's
   * value (the client address for `key: ip`, the header or cookie value otherwise) on every route for `for`.
   */
  ban: ban.optional()
}).superRefine((r, ctx) => {
  if (r.ban !== undefined && r.key === 'route') {
    ctx.addIssue({ code: 'custom', path: ['ban'], message: 'cannot be used with key: route (the whole route is one key, so there is no client to ban)' })
  }
}).transform((r) => ({
  ...(r.ban === undefined ? {} : { ban: r.ban }),
  key: r.key,
  count: r.rate.count,
  windowSec: r.rate.windowSec,
  ratePerSec: r.rate.count / r.rate.windowSec,
  burst: r.burst ?? Math.max(1, Math.ceil(r.rate.count / r.rate.windowSec))
}))

const cidr = z.string().refine((s) => parseCidr(s) !== undefined, 'must be an IP address or CIDR such as 10.0.0.0/8')

/**
 * HTTP caching for a route (RFC 9111, as a shared cache). The key's presence turns it on; `cache: {}` takes every
 * default. Responses are stored in the worker's memory and in shared state, so every worker and host reuses them.
 */
const routeCache = z.strictObject({
  /** Largest body stored. A bigger response streams through to the client and is not stored. */
  max_object: size('8mb').refine((b) => b >= 1 && b <= 512 * 1024 * 1024, 'must be from 1b to 512mb'),
  /**
   * Store responses that carry Set-Cookie (the cookie is kept and replayed to every client that gets the entry).
   * Off by default: a Set-Cookie response is passed through and not stored.
   */
  store_set_cookie: z.boolean().default(false),
  /**
   * Cache responses without an explicit lifetime (no max-age, s-maxage or Expires) for 10% of the time since their
   * Last-Modified, at most a day (RFC 9111 §4.2.2). Off: such responses are not stored.
   */
  heuristic: z.boolean().default(true),
  /**
   * A HEAD that finds no entry is fetched from the backend as GET, so its answer fills the cache (nginx's
   * proxy_cache_convert_head); the client still gets only the head. Off: a HEAD miss goes to the backend as HEAD
   * and nothing is stored.
   */
  convert_head: z.boolean().default(true),
  /**
   * After a fill that held the cluster-wide lock turned out not storable (private, no-store, Set-Cookie, too big, an
   * uncacheable status below 500 …), misses for that key skip the cluster-wide lock for this long and go to the backend at once, so
   * requests for an uncacheable URL never queue behind each other (Varnish's hit-for-miss). What comes back is still
   * stored if it allows it. Per worker; 0 turns it off.
   */
  hit_for_miss: duration('2m').refine((ms) => ms >= 0 && ms <= 3_600_000, 'must be from 0 to 1h'),
  /**
   * How long concurrent requests for an object being fetched (anywhere in the cluster) wait for it before going to the
   * backend themselves. Also how long a fetcher holds the cluster-wide lock, so a worker that dies while fetching
   * delays the others at most this long.
   */
  lock_timeout: duration('5s').refine((ms) => ms >= 10 && ms <= 600_000, 'must be from 10ms to 10m')
})

/** The standard methods (RFC 9110 §9.3 and PATCH, RFC 5789): what `limits.methods` admits by default. */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const
/** A method is an RFC 9110 §9.1 token. */
export const METHOD_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const METHOD = 'must be a method name: an RFC 9110 token such as GET, PURGE or PROPFIND'

const methods = z.array(z.string({ error: METHOD }).transform((m, ctx) => {
  if (!METHOD_TOKEN.test(m)) {
    ctx.addIssue({ code: 'custom', message: METHOD })
    return z.NEVER
  }
  // Methods are case-sensitive (RFC 9110 §9.1) and every registered one is upper-case: `purge` in a config means PURGE.
  return m.toUpperCase()
})).min(1, 'must list at least one method').transform((l) => [...new Set(l)])

const maxBody = z.union([z.string(), z.number()], { error: SIZE }).transform((v, ctx) => {
  const bytes = parseSize(v)
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: SIZE })
    return z.NEVER
  }
  return bytes
})

/** Keys of `limits` read before a route is chosen: top level only. */
const TOP_LEVEL_LIMITS = ['max_inflight_per_ip', 'max_connections_per_ip', 'allow_encoded_slash', 'merge_slashes', 'max_headers', 'max_header_size', 'body_timeout'] as const

/**
 * Request limits and guards (see README "Limits and guards"). Each key can be overridden per route under
 * `routes[].limits`, except those that act before a route is chosen.
 */
const limits = z.strictObject({
  /**
   * Largest request body. A bigger Content-Length gets 413 SWY_REQUEST_TOO_LARGE before any upstream request; a
   * chunked body is counted as it arrives, and once past the limit the upstream request is aborted and the client gets
   * 413 with the connection closed.
   */
  max_body: maxBody.default(10 * 1024 * 1024),
  /**
   * Methods admitted, any RFC 9110 token (PURGE, PROPFIND, MKCOL …); any other gets 405 SWY_METHOD_NOT_ALLOWED with
   * Allow. Default: the nine standard methods. uWebSockets.js 20.30 closes the connection on a method outside those
   * nine before Switchyard sees it (the primary warns when this list names one and 20.30 is the engine).
   */
  methods: methods.default([...HTTP_METHODS]),
  /**
   * Most header lines in a request (Host included); more: 431 SWY_HEADERS_TOO_LARGE and the connection closes. The
   * engine's own cap comes first: 98 lines on uWebSockets.js 20.57 (its own 431), 48 on 20.30 (no answer).
   */
  max_headers: z.number().int().min(1).max(1000).default(64),
  /**
   * Largest request head (request line and header lines). Over it: 431 and the connection closes. uWebSockets.js 20.57
   * enforces it itself (each worker gets it as UWS_HTTP_MAX_HEADERS_SIZE; its default is 4 KiB); on 20.30 Switchyard
   * checks heads that arrive in one read, and uWS closes heads over about 4 KiB that arrive in several.
   */
  max_header_size: size('16kb').refine((b) => b >= 1024 && b <= 1024 * 1024, 'must be from 1kb to 1mb'),
  /**
   * Longest wait for the next piece of a request body (nginx's client_body_timeout). A client that stalls longer gets
   * 408 SWY_REQUEST_TIMEOUT (or, once the answer has started, a cut connection) and the backend request is aborted.
   * Time the proxy itself holds the client back (a slow backend) does not count. 0: only the engine's own timeout
   * (about 12 s on uWebSockets.js 20.30, 32 s on 20.57).
   */
  body_timeout: duration('10s').refine((ms) => ms === 0 || (ms >= 1000 && ms <= 3_600_000), 'must be 0 or from 1s to 1h'),
  /**
   * Requests in flight per client address (after trusted_proxies), per worker; over it: 429 SWY_CLIENT_INFLIGHT_LIMIT.
   * 0: no cap. A host with N workers admits up to N × this per address.
   */
  max_inflight_per_ip: z.number().int().min(0).max(1_000_000).default(0),
  /**
   * Open connections per peer address to this host (all workers; trusted_proxies exempt), counted from the kernel's
   * socket table about once a second. Over it: every request from that address gets 429 SWY_CLIENT_CONNECTION_LIMIT
   * and its connection closed until the count is back at or under the cap. 0: no cap.
   */
  max_connections_per_ip: z.number().int().min(0).max(1_000_000).default(0),
  /**
   * Open WebSockets per route on this host; over it, an upgrade gets 503 SWY_WEBSOCKET_LIMIT. Each worker admits its
   * share (the cap divided by the workers, rounded up). 0: no cap. Per route under `routes[].limits`.
   */
  max_websockets: z.number().int().min(0).max(10_000_000).default(0),
  /** Let `%2F` through (kept encoded, never decoded) instead of refusing the path with 400 SWY_BAD_PATH. */
  allow_encoded_slash: z.boolean().default(false),
  /** Merge runs of `/` in the path into one before routing and forwarding (`//admin` is `/admin`). */
  merge_slashes: z.boolean().default(true)
})

const routeLimits = z.strictObject({
  /** This route's largest request body; default: the top-level limits.max_body. */
  max_body: maxBody.optional(),
  /** This route's methods (e.g. `[GET, HEAD]`); default: the top-level limits.methods. */
  methods: methods.optional(),
  /** This route's cap on open WebSockets on this host; default: the top-level limits.max_websockets. */
  max_websockets: z.number().int().min(0).max(10_000_000).optional(),
  // Accepted only to say where they belong.
  ...Object.fromEntries(TOP_LEVEL_LIMITS.map((k) => [k, z.unknown().optional()])) as Record<typeof TOP_LEVEL_LIMITS[number], z.ZodOptional<z.ZodUnknown>>
}).superRefine((l, ctx) => {
  for (const k of TOP_LEVEL_LIMITS) {
    if (l[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `is only read at the top level (limits.${k}): it acts before a route is chosen` })
  }
}).transform((l) => ({
  ...(l.max_body === undefined ? {} : { max_body: l.max_body }),
  ...(l.methods === undefined ? {} : { methods: l.methods }),
  ...(l.max_websockets === undefined ? {} : { max_websockets: l.max_websockets })
}))

const HSTS_AGE = 'must be a duration such as 1y, 180d, 12h or 3600s'
const HSTS_UNITS: Readonly<Record<string, number>> = { d: 86_400_000, y: 365 * 86_400_000 }

/**
 * Security response headers written on every response of the route: proxied, cached and Switchyard's own error
 * replies. A backend's own copies of these headers are replaced. `security_headers: {}` sends nosniff and
 * `X-Frame-Options: DENY`; HSTS only when `hsts` is set.
 */
const securityHeaders = z.strictObject({
  /** Strict-Transport-Security (RFC 6797). Browsers ignore it on plain HTTP, so set it where clients arrive over TLS. */
  hsts: z.strictObject({
    /** max-age; e.g. `1y`, `180d`. */
    max_age: z.union([z.string(), z.number()], { error: HSTS_AGE }).default('1y').transform((v, ctx) => {
      const m = typeof v === 'string' ? /^\s*(\d+)\s*(d|y)\s*$/i.exec(v) : null
      const ms = m === null ? parseDuration(v) : Number(m[1]) * HSTS_UNITS[m[2]!.toLowerCase()]!
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: HSTS_AGE })
        return z.NEVER
      }
      return Math.floor(ms / 1000)
    }),
    /** Adds `includeSubDomains`. */
    include_subdomains: z.boolean().default(false),
    /** Adds `preload` (for browsers' preload lists; requires include_subdomains and max_age of at least 1y there). */
    preload: z.boolean().default(false)
  }).optional(),
  /** `X-Content-Type-Options: nosniff`. */
  content_type_options: z.boolean().default(true),
  /** `X-Frame-Options`: `DENY`, `SAMEORIGIN`, or false for none. */
  frame_options: z.union([z.literal(false), z.string().transform((v) => v.toUpperCase()).pipe(z.enum(['DENY', 'SAMEORIGIN']))], { error: 'must be DENY, SAMEORIGIN or false' })
    .default('DENY')
})

const WEBSOCKET = 'must be false, true or an object such as { max_message: 1mb, idle_timeout: 60s, max_buffered: 4mb }'

/**
 * WebSocket upgrades on a route (see README "WebSockets"): every route carries them unless `websocket: false`, which
 * refuses them with 400 SWY_WEBSOCKET_REFUSED. The object form tunes the relay.
 */
const websocket = z.preprocess((v) => v === false ? { enabled: false } : v === true ? {} : v, z.strictObject({
  /** Carry upgrades on this route; `websocket: false` is the short form of `{ enabled: false }`. */
  enabled: z.boolean().default(true),
  /**
   * Largest message either way. A bigger message from the client closes its socket with 1009 (Message Too Big); from
   * the backend, the backend's socket closes with 1009 and the client gets 1011.
   */
  max_message: size('1mb').refine((b) => b >= 1024 && b <= 256 * 1024 * 1024, 'must be from 1kb to 256mb'),
  /** Close a WebSocket (1001 both ways) after this long without a message either way. 0: never. */
  idle_timeout: duration('60s').refine((ms) => ms === 0 || ms >= 1000, 'must be 0 or at least 1s'),
  /**
   * Bytes queued toward each side before the relay pushes back: toward a slow client, reading from the backend
   * pauses until the client takes them; toward a slow backend (a WebSocket client cannot be paused), the client's
   * socket closes with 1013 (Try Again Later). Bounds a socket's memory to about this plus two max_message.
   */
  max_buffered: size('4mb').refine((b) => b >= 16 * 1024 && b <= 1024 * 1024 * 1024, 'must be from 16kb to 1gb'),
  /** Compress messages to clients that offer permessage-deflate (RFC 7692). The backend hop is never compressed. */
  deflate: z.boolean().default(true)
}, { error: WEBSOCKET }))

const route = z.strictObject({
  match: z.strictObject({
    /**
     * Host to match: exact (`api.example.com`) or one-label wildcard (`*.example.com`), any case, without a port
     * (a request's Host port is ignored). Absent: any host.
     */
    host: z.string()
      .superRefine((h, ctx) => {
        if (HOST.test(h)) return
        const portless = h.replace(/:\d+$/, '')
        ctx.addIssue({
          code: 'custom',
          message: portless !== h && HOST.test(portless)
            ? 'must not include a port (requests match on the host name, whatever their port)'
            : 'must be a host name such as api.example.com, or *.example.com for one label under it'
        })
      })
      .transform((h) => h.toLowerCase().replace(/\.$/, ''))
      .optional(),
    /** Path prefix, starting with `/`. The longest matching prefix wins. */
    path: z.string().startsWith('/', 'must start with /').default('/')
  }).prefault({}),
  /** Name of an upstream under `upstreams`. */
  upstream: z.string().min(1),
  /** Remove the matched path prefix before forwarding (`/v1/users` → `/users`). */
  strip_prefix: z.boolean().default(false),
  /** Per-route rate limit (a token bucket). Over it: 429 SWY_RATE_LIMITED with Retry-After and RateLimit headers. */
  rate_limit: rateLimit.optional(),
  /**
   * Client addresses (IPs or CIDRs, IPv4 and IPv6) admitted to this route; when not empty, everyone else gets
   * 403 SWY_ACCESS_DENIED. Checked against the client address after trusted_proxies.
   */
  allow: z.array(cidr).default([]),
  /** Client addresses (IPs or CIDRs) refused on this route with 403 SWY_ACCESS_DENIED. Deny wins over allow. */
  deny: z.array(cidr).default([]),
  /** Cache responses of this route (see README "Caching"): `cache: { max_object: 8mb }`. Absent: nothing is cached. */
  cache: routeCache.optional(),
  /** This route's max_body and methods; each key absent here falls back to the top-level `limits`. */
  limits: routeLimits.optional(),
  /** Security response headers for this route (HSTS, X-Content-Type-Options, X-Frame-Options). Absent: none. */
  security_headers: securityHeaders.optional(),
  /** WebSocket upgrades on this route: carried by default; `false` refuses them with 400. */
  websocket: websocket.prefault({})
})

const hostPort = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535)
})

const STATE_BACKENDS = ['redis', 'sentinel', 'cluster'] as const

/**
 * Where cluster-wide state (rate limits, sticky sessions, bans) lives. Leave it out for the embedded store: the
 * primary of this host holds the state, shared by its workers only. Set exactly one of `redis`, `sentinel` or
 * `cluster` to share it across hosts.
 */
const state = z.strictObject({
  /** One Redis server: `redis://[user:pass@]host:port/db` (`rediss://` for TLS). */
  redis: z.string().regex(/^rediss?:\/\/[^/?#]+/, 'must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379/0').optional(),
  /** Redis behind Sentinel: the sentinels to ask and the master group name. */
  sentinel: z.strictObject({
    sentinels: z.array(hostPort).min(1, 'must list at least one sentinel'),
    name: z.string().min(1)
  }).optional(),
  /** Redis Cluster: some of its nodes (the rest are discovered). */
  cluster: z.array(hostPort).min(1, 'must list at least one node').optional(),
  /** Prepended to every key and channel, so several deployments can share one Redis. */
  prefix: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1 to 64 letters, digits, _, . or -').default('swy'),
  /**
   * How long a state command may take before the caller gives up and degrades (local rate limit, hash stickiness).
   * Keep it small: it is added to a request's latency while Redis is slow.
   */
  timeout: duration('250ms')
})

/**
 * The admin API (status, reload, runtime membership) on its own listener in the primary. Bound beyond loopback it
 * needs a token: every request must then carry `Authorization: Bearer TOKEN`.
 */
const admin = z.strictObject({
  /** `false` turns the admin API off (then `switchyard reload` cannot reach the proxy; SIGHUP still reloads). */
  enabled: z.boolean().default(true),
  /** Address to bind. Loopback by default: the API changes what the proxy does. */
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(1).max(65535).default(9090),
  /** Bearer token; required when `host` is not a loopback address. At least 16 characters. */
  token: z.string().min(16, 'must be at least 16 characters').optional()
})

export const configSchema = z.strictObject({
  /** Listening sockets. */
  listen: z.array(listen).min(1, 'must list at least one listener').default([{ host: '0.0.0.0', port: 8080, h2c: false }]),
  /** Worker processes: `auto` (one per core) or a number. */
  workers: z.union([z.literal('auto'), z.number().int(WORKERS).min(1, WORKERS).max(256, WORKERS)], { error: WORKERS }).default('auto'),
  log: z.strictObject({
    /** pino level. */
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /**
     * One JSON line per request, at info level: `true` on stdout with the other lines, `false` none, or an absolute
     * file path the workers append them to (reopened on SIGUSR1 to the primary, for logrotate).
     */
    access: z.union([z.boolean(), z.string().refine((p) => p.startsWith('/'), 'must be true, false or an absolute file path')]).default(true),
    /** Human-readable output. Default: only when stdout is a terminal. */
    pretty: z.boolean().optional()
  }).prefault({}),
  /** Named groups of backend servers; routes refer to them by name. */
  upstreams: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/, 'is not a valid upstream name (use letters, digits, _ or -)'), upstream)
    .refine((u) => Object.keys(u).length > 0, 'must define at least one upstream'),
  routes: z.array(route).min(1, 'must list at least one route'),
  /** Request limits and path guards (see README "Limits and guards"); routes override max_body and methods. */
  limits: limits.prefault({}),
  /** Peers whose X-Forwarded-For chain is kept and appended to; everyone else's is replaced. CIDRs or addresses. */
  trusted_proxies: z.array(cidr).default([]),
  headers: z.strictObject({
    /** Response headers of the backend that clients never see. */
    hide: z.array(z.string().regex(HEADER_NAME, 'must be a header name').transform((s) => s.toLowerCase())).default(['server', 'x-powered-by']),
    /** Send `Via: 1.1 switchyard` both ways. */
    via: z.boolean().default(true),
    /** Keep the client's Host header for the backend (otherwise the server URL's host is sent). */
    preserve_host: z.boolean().default(true)
  }).prefault({}),
  shutdown: z.strictObject({
    /** How long in-flight requests may take to finish on stop, before they are cut. */
    drain_timeout: duration('10s')
  }).prefault({}),
  /** Bytes of request body the proxy may read ahead of a slow backend. */
  body_highwater: size('64kb'),
  state: state.optional(),
  admin: admin.prefault({}),
  /** Prometheus metrics: workers count, the primary serves `GET /metrics` on the admin listener (README "Metrics"). */
  metrics: z.strictObject({
    /** `false`: workers count nothing and send nothing, and the admin listener has no /metrics (the cost bench's baseline). */
    enabled: z.boolean().default(true)
  }).prefault({}),
  /** HTTP/2 bounds for listeners that speak it (`http2` on TLS, `h2c` on plain); header limits come from `limits`. */
  http2: http2.prefault({}),
  /** The HTTP cache's per-worker memory level (routes turn caching on with their own `cache` key). */
  cache: z.strictObject({
    /** Bytes of cached responses each worker keeps in memory (least recently used out first). 0: shared level only. */
    memory: size('64mb').refine((b) => b <= 64 * 1024 * 1024 * 1024, 'must be at most 64gb')
  }).prefault({})
}).superRefine((c, ctx) => {
  for (const p of crossCheck(c)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message })
}, {
  // zod skips refinements once any key failed; these run anyway, so a config's problems all show up in one pass.
  when: (payload) => isRecord(payload.value)
})

/** The input a config file may contain. */
export type ConfigInput = z.input<typeof configSchema>
/** The validated, normalised config (durations in ms, sizes in bytes). */
export type Config = z.output<typeof configSchema>
export type UpstreamConfig = Config['upstreams'][string]
export type StickyConfig = NonNullable<UpstreamConfig['sticky']>
export type RouteConfig = Config['routes'][number]
export type ListenConfig = Config['listen'][number]
export type RouteCacheConfig = NonNullable<RouteConfig['cache']>
export type LimitsConfig = Config['limits']
export type SecurityHeadersConfig = NonNullable<RouteConfig['security_headers']>
export type WebSocketConfig = RouteConfig['websocket']

/**
 * Rules across keys. The value may be partly parsed (other keys failed), so every read is checked,
 * and a rule stays silent where a key it reads has its own problem.
 */
function crossCheck (c: unknown): Array<{ path: PropertyKey[], message: string }> {
  const out: Array<{ path: PropertyKey[], message: string }> = []
  if (!isRecord(c)) return out
  const ups = c.upstreams
  if (isRecord(ups) && Object.keys(ups).length > 0 && Array.isArray(c.routes)) {
    const known = Object.keys(ups).join(', ')
    c.routes.forEach((r: unknown, i) => {
      if (isRecord(r) && typeof r.upstream === 'string' && r.upstream !== '' && !Object.hasOwn(ups, r.upstream)) {
        out.push({ path: ['routes', i, 'upstream'], message: `names unknown upstream "${r.upstream}" (defined: ${known})` })
      }
    })
  }
  if (isRecord(ups)) {
    for (const [name, u] of Object.entries(ups)) {
      if (isRecord(u) && (u.servers === undefined || (Array.isArray(u.servers) && u.servers.length === 0)) && u.discover === undefined) {
        out.push({ path: ['upstreams', name, 'servers'], message: 'must list at least one server (or set discover)' })
      }
      if (isRecord(u) && u.hash !== undefined && u.balance !== 'hash' && BALANCE_KINDS.includes(u.balance as BalanceKind)) {
        out.push({ path: ['upstreams', name, 'hash'], message: 'is only used with balance: hash' })
      }
    }
  }
  if (isRecord(c.state)) {
    const st = c.state
    const set = STATE_BACKENDS.filter((k) => st[k] !== undefined)
    if (set.length === 0) out.push({ path: ['state'], message: 'must set one of redis, sentinel or cluster (leave state out for the embedded store)' })
    for (const k of set.slice(1)) out.push({ path: ['state', k], message: `conflicts with state.${set[0]!}: set only one of redis, sentinel or cluster` })
  }
  if (isRecord(c.admin) && c.admin.enabled !== false && typeof c.admin.host === 'string' && c.admin.token === undefined && !isLoopback(c.admin.host)) {
    out.push({ path: ['admin', 'token'], message: `is required when admin.host (${c.admin.host}) is not a loopback address` })
  }
  if (Array.isArray(c.listen)) {
    const seen = new Map<string, number>()
    c.listen.forEach((l: unknown, i) => {
      if (!isRecord(l) || typeof l.host !== 'string' || typeof l.port !== 'number' || !Number.isInteger(l.port) || l.port < 1 || l.port > 65535) return
      const k = `${l.host}:${l.port}`
      const first = seen.get(k)
      if (first !== undefined) out.push({ path: ['listen', i], message: `duplicates listen[${first}] (${k})` })
      else seen.set(k, i)
    })
  }
  return out
}

/** localhost, 127.0.0.0/8 or ::1 (also as an IPv4-mapped address). */
export function isLoopback (host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '')
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}

function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export type Validated = { readonly ok: true, readonly config: Config } | { readonly ok: false, readonly problems: ConfigProblem[] }

/** Validates and normalises a parsed config; on failure lists every problem with its key path. */
export function validateConfig (input: unknown): Validated {
  const r = configSchema.safeParse(input, { error: describeIssue })
  return r.success ? { ok: true, config: r.data } : { ok: false, problems: toProblems(r.error.issues) }
}

function toProblems (issues: readonly z.core.$ZodIssue[]): ConfigProblem[] {
  const out: ConfigProblem[] = []
  for (const i of issues) {
    if (i.code === 'unrecognized_keys') {
      const known = objectKeysAt(i.path)
      for (const k of i.keys) {
        const near = closest(k, known)
        out.push({ path: formatPath([...i.path, k]), reason: near === undefined ? 'unknown key' : `unknown key (did you mean ${near}?)` })
      }
    } else if (i.code === 'invalid_key') {
      out.push({ path: formatPath(i.path), reason: i.issues[0]?.message ?? 'is not a valid key' })
    } else if (i.code === 'invalid_union' && i.message.startsWith('Invalid input')) {
      out.push({ path: formatPath(i.path), reason: 'has the wrong type' })
    } else {
      out.push({ path: formatPath(i.path), reason: i.message })
    }
  }
  return out
}

function describeIssue (iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      return iss.input === undefined ? 'is required' : `must be ${article(iss.expected)} (got ${shown(iss.input)})`
    case 'too_small':
      if (iss.origin === 'string') return Number(iss.minimum) <= 1 ? 'must not be empty' : `must be at least ${String(iss.minimum)} characters`
      if (iss.origin === 'array') return `must have at least ${String(iss.minimum)} item(s)`
      return iss.inclusive === false ? `must be more than ${String(iss.minimum)}` : `must be at least ${String(iss.minimum)}`
    case 'too_big':
      if (iss.origin === 'string') return `must be at most ${String(iss.maximum)} characters`
      if (iss.origin === 'array') return `must have at most ${String(iss.maximum)} item(s)`
      return iss.inclusive === false ? `must be less than ${String(iss.maximum)}` : `must be at most ${String(iss.maximum)}`
    case 'invalid_value':
      return `must be one of ${iss.values.map((v) => String(v)).join(', ')} (got ${shown(iss.input)})`
    case 'invalid_format':
      return 'has the wrong format'
    default:
      return undefined
  }
}

function article (t: string): string {
  if (t === 'int') return 'a whole number'
  if (t === 'array') return 'a list'
  if (t === 'object' || t === 'record') return 'a mapping'
  if (t === 'boolean') return 'true or false'
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`
}

/** How a wrong value is shown back: short scalars as written, collections by kind. */
function shown (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a mapping'
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)
  return String(v)
}

/** The keys the strict object at `path` accepts ([] when there is none). */
function objectKeysAt (path: readonly PropertyKey[]): string[] {
  let s: z.core.$ZodType | undefined = configSchema
  for (const seg of path) {
    const d: SchemaDef = unwrap(s)._zod.def
    s = d.type === 'object' ? d.shape?.[String(seg)] : d.type === 'array' ? d.element : d.type === 'record' ? d.valueType : undefined
    if (s === undefined) return []
  }
  const d: SchemaDef = unwrap(s)._zod.def
  return d.type === 'object' && d.shape !== undefined ? Object.keys(d.shape) : []
}

interface SchemaDef {
  readonly type: string
  readonly innerType?: z.core.$ZodType
  readonly in?: z.core.$ZodType
  readonly out?: z.core.$ZodType
  readonly shape?: Readonly<Record<string, z.core.$ZodType>>
  readonly element?: z.core.$ZodType
  readonly valueType?: z.core.$ZodType
}

/** Through default, prefault, optional and pipe (transform) wrappers to the schema that reads the input. */
function unwrap (s: z.core.$ZodType): z.core.$ZodType {
  for (;;) {
    const d: SchemaDef = s._zod.def
    if (d.innerType !== undefined) s = d.innerType
    // A preprocess is a pipe from a transform: the schema that reads the input is its output side.
    else if (d.type === 'pipe' && d.in !== undefined) s = d.in._zod.def.type === 'transform' && d.out !== undefined ? d.out : d.in
    else return s
  }
}

/** The known key a typo most likely meant (case, `-` and `_` ignored), if one is close enough. */
function closest (key: string, known: readonly string[]): string | undefined {
  const norm = (k: string): string => k.toLowerCase().replace(/[-_]/g, '')
  const k = norm(key)
  let best: string | undefined
  let bestD = Math.max(1, Math.floor(k.length / 4)) + 1
  for (const cand of known) {
    const d = editDistance(k, norm(cand))
    if (d < bestD) { best = cand; bestD = d }
  }
  return best
}

/** Levenshtein distance where swapping two neighbours counts as one edit (optimal string alignment). */
function editDistance (a: string, b: string): number {
  let prev2: number[] = []
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2]! + 1)
      cur.push(v)
    }
    prev2 = prev
    prev = cur
  }
  return prev[b.length]!
}
