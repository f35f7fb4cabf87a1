// Per-client caps: requests in flight per client address (exact, per worker) and open connections per peer address
// (host-wide, from the kernel's socket table once a second: uWS has no connection open/close hook, docs/uws.md).
import { readFile } from 'node:fs/promises'
import { endianness } from 'node:os'
import type { Logger } from 'pino'
import { NEXT, type Exchange, type Hold, type Stage } from '../pipeline/index.ts'
import { normaliseAddress } from '../net/index.ts'

/** Which peer addresses hold more connections than the cap, as of the last census. */
export interface ConnectionCensus {
  /** True when `peerIp` held more than the cap at the last count. */
  over (peerIp: string): boolean
  /** Counts once now, then every interval. Resolves after the first count (it never rejects). */
  start (): Promise<void>
  close (): void
}

export interface CensusOptions {
  /** Local ports we listen on: only connections to these count. */
  readonly ports: readonly number[]
  /** max_connections_per_ip. */
  readonly cap: number
  readonly intervalMs: number
  readonly log: Logger
  /** The socket tables' text (default: /proc/net/tcp and /proc/net/tcp6). */
  readonly read?: () => Promise<string[]>
}

const TABLES = ['/proc/net/tcp', '/proc/net/tcp6']

/**
 * The kernel hands these tables out one page (~27 lines) per read() and resumes by position, so the text is no atomic
 * snapshot: a socket closing meanwhile can shift the rest and one line be skipped or shown twice. A count can be off
 * by a little under heavy churn; the next one is taken a second later.
 */
async function readTables (): Promise<string[]> {
  // tcp6 is missing when IPv6 is off; a table that cannot be read counts as empty.
  return await Promise.all(TABLES.map(async (f) => await readFile(f, 'latin1').catch(() => '')))
}

export function createConnectionCensus (o: CensusOptions): ConnectionCensus {
  const read = o.read ?? readTables
  const ports = new Set(o.ports.map((p) => p.toString(16).toUpperCase().padStart(4, '0')))
  let overCap: ReadonlySet<string> = new Set()
  let timer: NodeJS.Timeout | undefined
  let closed = false
  let warned = false
  const count = async (): Promise<void> => {
    try {
      const tables = await read()
      const counts = new Map<string, number>()
      for (const t of tables) countEstablished(t, ports, counts)
      const next = new Set<string>()
      for (const [ip, n] of counts) if (n > o.cap) next.add(ip)
      overCap = next
    } catch (err) {
      // Without the table there is nothing to enforce: the cap is open rather than refusing everyone.
      if (!warned) o.log.warn({ err }, 'cannot read the socket table; max_connections_per_ip is not enforced')
      warned = true
      overCap = new Set()
    }
  }
  const loop = (): void => {
    if (closed) return
    timer = setTimeout(() => { count().finally(loop) }, o.intervalMs)
    timer.unref()
  }
  return {
    over (ip) { return overCap.size > 0 && overCap.has(ip) },
    async start () {
      await count()
      loop()
    },
    close () {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
    }
  }
}

const LITTLE_ENDIAN = endianness() === 'LE'

/**
 * Adds the ESTABLISHED connections of one /proc/net/tcp or tcp6 table whose local port is in `ports` (4 upper-case
 * hex digits) to `counts`, by remote address (normalised as the listener reports peers). Lines look like
 * `  12: 0100007F:1F90 0100007F:D3A2 01 …`; addresses are printed as native-endian 32-bit words.
 */
export function countEstablished (table: string, ports: ReadonlySet<string>, counts: Map<string, number>): void {
  let at = table.indexOf('\n') + 1 // skip the header line
  while (at > 0 && at < table.length) {
    const nl = table.indexOf('\n', at)
    const end = nl < 0 ? table.length : nl
    const colon = table.indexOf(':', at)
    if (colon > 0 && colon < end) {
      const local = colon + 2
      const sep = table.indexOf(':', local) // between the local address and its port
      const width = sep - local // 8 (IPv4) or 32 (IPv6)
      const remote = sep + 6
      const st = remote + width + 6
      if ((width === 8 || width === 32) && st + 2 <= end && table.charCodeAt(st) === 48 && table.charCodeAt(st + 1) === 49 &&
          ports.has(table.slice(sep + 1, sep + 5))) {
        const ip = width === 8 ? ipv4(table, remote) : ipv6(table, remote)
        counts.set(ip, (counts.get(ip) ?? 0) + 1)
      }
    }
    at = nl + 1
  }
}

/** Bytes of one 32-bit word as printed: most significant first, so a little-endian host printed them reversed. */
function word (t: string, at: number): number[] {
  const n = parseInt(t.slice(at, at + 8), 16)
  const b = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]
  return LITTLE_ENDIAN ? b.reverse() : b
}

function ipv4 (t: string, at: number): string {
  return word(t, at).join('.')
}

function ipv6 (t: string, at: number): string {
  const bytes = [...word(t, at), ...word(t, at + 8), ...word(t, at + 16), ...word(t, at + 24)]
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16).padStart(4, '0'))
  return normaliseAddress(groups.join(':'))
}

export interface ClientCapsOptions {
  /** max_inflight_per_ip; 0: no in-flight cap. */
  readonly maxInflight: number
  /** Present when max_connections_per_ip is set. */
  readonly census?: ConnectionCensus | undefined
}

/**
 * The caps stage. In flight: per worker and per client address (after trusted_proxies), counted exactly; the slot is
 * released when the exchange ends. Connections: per peer address and host-wide; trusted proxies are exempt (they
 * carry many clients). An address over the connection cap gets 429 and its connection closed, on every request, until
 * a later census finds it back at or under the cap.
 */
export function createClientCaps ({ maxInflight, census }: ClientCapsOptions): Stage & Hold {
  const inflight = new Map<string, number>()
  const caps: Stage & Hold = {
    name: 'client-caps',
    run (ex) {
      if (census !== undefined && !ex.trustedPeer && census.over(ex.peerIp)) return ex.reject('SWY_CLIENT_CONNECTION_LIMIT', true)
      if (maxInflight > 0) {
        const n = inflight.get(ex.clientIp) ?? 0
        if (n >= maxInflight) return ex.reject('SWY_CLIENT_INFLIGHT_LIMIT')
        inflight.set(ex.clientIp, n + 1)
        ex.hold = caps
      }
      return NEXT
    },
    release (ex: Exchange) {
      const n = (inflight.get(ex.clientIp) ?? 1) - 1
      if (n <= 0) inflight.delete(ex.clientIp)
      else inflight.set(ex.clientIp, n)
    }
  }
  return caps
}
