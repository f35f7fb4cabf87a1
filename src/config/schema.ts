// Every configuration key, declared once: type, default, bounds and the user-facing doc.
// zod is used here and nowhere else; it yields the Config type and path-exact errors (see load.ts).
import { z } from 'zod'
import { parseDuration, parseSize } from './units.ts'
import { parseCidr } from '../net/cidr.ts'

const duration = (fallback: string) => z.union([z.string(), z.number()])
  .default(fallback)
  .transform((v, ctx) => {
    const ms = parseDuration(v)
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'must be a duration such as 500ms, 2s, 1m or 1h' })
      return z.NEVER
    }
    return ms
  })

const size = (fallback: string) => z.union([z.string(), z.number()])
  .default(fallback)
  .transform((v, ctx) => {
    const bytes = parseSize(v)
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: 'must be a size such as 512b, 16kb or 10mb' })
      return z.NEVER
    }
    return bytes
  })

const httpUrl = z.string().refine((s) => {
  try {
    const u = new URL(s)
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' &&
      (u.pathname === '/' || u.pathname === '') && u.search === '' && u.hash === '' && u.username === ''
  } catch { return false }
}, 'must be an http(s) URL with a host and no path, e.g. http://127.0.0.1:9001')
  .transform((s) => new URL(s).origin)

const HASH_BY = /^(ip|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+|cookie:[A-Za-z0-9!#$%&'*+.^_`|~-]+)$/

const listen = z.strictObject({
  /** Address to bind. `0.0.0.0` (all IPv4), `::` (dual-stack) or one address. */
  host: z.string().min(1).default('0.0.0.0'),
  /** TCP port. Every worker binds it with SO_REUSEPORT. */
  port: z.number().int().min(1).max(65535)
})

const server = z.strictObject({
  /** Origin of the backend server. */
  url: httpUrl,
  /** Relative share of requests for `weighted` and `hash` balancing. */
  weight: z.number().int().min(1).max(1000).default(1)
})

const upstream = z.strictObject({
  /** How a server is picked for each request. */
  balance: z.enum(['round-robin', 'weighted', 'least-conn', 'p2c', 'hash']).default('round-robin'),
  /** For `balance: hash`: what is hashed. `ip`, `header:NAME` or `cookie:NAME`; a missing value hashes the client IP. */
  hash: z.strictObject({
    by: z.string().regex(HASH_BY, 'must be ip, header:NAME or cookie:NAME').default('ip')
  }).optional(),
  /** The backend servers. */
  servers: z.array(server).min(1, 'must list at least one server'),
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
  connections: z.number().int().min(1).max(10_000).default(256)
})

const route = z.strictObject({
  match: z.strictObject({
    /** Host to match: exact (`api.example.com`) or one-label wildcard (`*.example.com`). Absent: any host. */
    host: z.string().regex(/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?(:\d+)?$/i,
      'must be a host name or *.domain').transform((h) => h.toLowerCase()).optional(),
    /** Path prefix, starting with `/`. The longest matching prefix wins. */
    path: z.string().startsWith('/', 'must start with /').default('/')
  }).prefault({}),
  /** Name of an upstream under `upstreams`. */
  upstream: z.string().min(1),
  /** Remove the matched path prefix before forwarding (`/v1/users` → `/users`). */
  strip_prefix: z.boolean().default(false)
})

export const configSchema = z.strictObject({
  /** Listening sockets. */
  listen: z.array(listen).min(1, 'must list at least one listener').default([{ host: '0.0.0.0', port: 8080 }]),
  /** Worker processes: `auto` (one per core) or a number. */
  workers: z.union([z.literal('auto'), z.number().int().min(1).max(256)], { error: 'must be auto or a whole number from 1 to 256' }).default('auto'),
  log: z.strictObject({
    /** pino level. */
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** One JSON line per request, at info level. */
    access: z.boolean().default(true),
    /** Human-readable output. Default: only when stdout is a terminal. */
    pretty: z.boolean().optional()
  }).prefault({}),
  upstreams: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be letters, digits, _ or -'), upstream),
  routes: z.array(route).min(1, 'must list at least one route'),
  /** Peers whose X-Forwarded-For chain is kept and appended to; everyone else's is replaced. CIDRs or addresses. */
  trusted_proxies: z.array(z.string().refine((s) => parseCidr(s) !== undefined, 'must be an IP address or CIDR')).default([]),
  headers: z.strictObject({
    /** Response headers of the backend that clients never see. */
    hide: z.array(z.string().transform((s) => s.toLowerCase())).default(['server', 'x-powered-by']),
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
  body_highwater: size('64kb')
}).superRefine((c, ctx) => {
  c.routes.forEach((r, i) => {
    if (!Object.hasOwn(c.upstreams, r.upstream)) {
      ctx.addIssue({ code: 'custom', path: ['routes', i, 'upstream'], message: `names no upstream (known: ${Object.keys(c.upstreams).join(', ') || 'none'})` })
    }
  })
  for (const [name, u] of Object.entries(c.upstreams)) {
    if (u.hash !== undefined && u.balance !== 'hash') {
      ctx.addIssue({ code: 'custom', path: ['upstreams', name, 'hash'], message: 'is only used with balance: hash' })
    }
  }
  const seen = new Set<string>()
  c.listen.forEach((l, i) => {
    const k = `${l.host}:${l.port}`
    if (seen.has(k)) ctx.addIssue({ code: 'custom', path: ['listen', i], message: `duplicates ${k}` })
    seen.add(k)
  })
})

/** The input a config file may contain. */
export type ConfigInput = z.input<typeof configSchema>
/** The validated, normalised config (durations in ms, sizes in bytes). */
export type Config = z.output<typeof configSchema>
export type UpstreamConfig = Config['upstreams'][string]
export type RouteConfig = Config['routes'][number]
