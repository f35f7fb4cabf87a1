// Active health checks, run once per host by the primary: each server of an upstream with `health` configured is
// probed on its own timer (the next probe starts `interval` after the last one ended, so probes never overlap).
// A server goes down after `unhealthy` consecutive failures and comes back after `healthy` consecutive successes.
import type { Logger } from 'pino'
import type { Config, UpstreamConfig } from '../config/index.ts'
import { probeServer, probeServerH2, serverAddress, type ServerAddress } from '../upstream/client/index.ts'

export type HealthConfig = NonNullable<UpstreamConfig['health']>

/** One probe's outcome: ok, or why not (a status outside `expect`, a timeout, a refused connection). */
export type ProbeResult = { readonly ok: true } | { readonly ok: false, readonly reason: string }

/** How to reach the server: address, port, TLS settings (CA, SNI name, verification, client certificate) and protocol. */
export type ProbeVia = ServerAddress & { readonly protocol: UpstreamConfig['protocol'] }

/** Probes `url` (server origin + check path) once, within `timeoutMs`. Injected so tests can script outcomes. */
export type Probe = (url: string, host: string, timeoutMs: number, expect: HealthConfig['expect'], via: ProbeVia) => Promise<ProbeResult>

/** Rise/fall counting for one server. Servers start healthy, so a restarted proxy serves at once. */
export class ServerHealth {
  healthy = true
  #run = 0
  readonly #rise: number
  readonly #fall: number
  lastReason: string | undefined

  constructor (rise: number, fall: number) {
    this.#rise = rise
    this.#fall = fall
  }

  /** Records one probe; returns true when the server's state flipped. */
  record (r: ProbeResult): boolean {
    // #run counts consecutive probes that disagree with the current state.
    if (r.ok === this.healthy) {
      this.#run = 0
      if (r.ok) this.lastReason = undefined
      return false
    }
    if (!r.ok) this.lastReason = r.reason
    this.#run++
    if (this.#run < (this.healthy ? this.#fall : this.#rise)) return false
    this.healthy = !this.healthy
    this.#run = 0
    if (this.healthy) this.lastReason = undefined
    return true
  }
}

export interface ActiveHealthOptions {
  readonly upstreams: Config['upstreams']
  readonly log: Logger
  /** Called with the upstream's full vector whenever a server flips (and with fail-open applied, see effective()). */
  readonly onChange: (upstream: string, healthy: readonly boolean[]) => void
  readonly probe?: Probe
  /** Starting state of a server (from the generation before a reload); undefined: healthy. */
  readonly initial?: (upstream: string, url: string) => boolean | undefined
}

export interface ActiveHealth {
  /** What workers should use now: every upstream with checks, its servers' health (fail_open applied). */
  snapshot (): Array<{ upstream: string, healthy: boolean[] }>
  /** Checked health per server, as probed (no fail-open), with the last failure reason. */
  status (): Record<string, Array<{ url: string, healthy: boolean, reason?: string }>>
  close (): Promise<void>
}

interface Checked {
  readonly name: string
  readonly cfg: HealthConfig
  readonly urls: readonly string[]
  readonly servers: readonly ServerHealth[]
  /** Per server: how to reach it. */
  readonly via: readonly ProbeVia[]
}

export function createActiveHealth (o: ActiveHealthOptions): ActiveHealth {
  // Checks use their own connections, one per probe: a pooled keep-alive connection would hide a server that no
  // longer accepts new ones.
  const probe = o.probe ?? httpProbe()
  const timers = new Set<NodeJS.Timeout>()
  let closed = false
  const checked: Checked[] = []
  for (const [name, u] of Object.entries(o.upstreams)) {
    if (u.health === undefined) continue
    const cfg = u.health
    const servers = u.servers.map((s) => {
      const h = new ServerHealth(cfg.healthy, cfg.unhealthy)
      h.healthy = o.initial?.(name, s.url) ?? true
      return h
    })
    // https:// servers are probed with the same TLS settings (CA, SNI name, verification, client cert) as requests.
    const via = u.servers.map((s) => ({ ...serverAddress(u, s.url), protocol: u.protocol }))
    checked.push({ name, cfg, urls: u.servers.map((s) => s.url), servers, via })
  }

  /** All down and fail_open: send traffic to all of them rather than answer 503. */
  const effective = (c: Checked): boolean[] => {
    const v = c.servers.map((s) => s.healthy)
    return c.cfg.fail_open && !v.includes(true) ? v.map(() => true) : v
  }

  const schedule = (c: Checked, i: number, delay: number): void => {
    if (closed) return
    const t = setTimeout(() => {
      timers.delete(t)
      const url = c.urls[i]!
      probe(url + c.cfg.path, new URL(url).host, c.cfg.timeout, c.cfg.expect, c.via[i]!).then((r) => {
        if (closed) return
        const s = c.servers[i]!
        if (s.record(r)) {
          const all = c.servers.every((x) => !x.healthy)
          const fields = { upstream: c.name, server: url, healthy: s.healthy, reason: r.ok ? undefined : r.reason }
          if (s.healthy) o.log.info(fields, 'server is healthy again')
          else o.log.warn(fields, 'server failed its health checks; no new requests go to it')
          if (all) o.log.error({ upstream: c.name, failOpen: c.cfg.fail_open }, c.cfg.fail_open ? 'every server is down: failing open' : 'every server is down: answering 503')
          o.onChange(c.name, effective(c))
        }
        schedule(c, i, c.cfg.interval)
      }, (err: unknown) => {
        o.log.error({ err, upstream: c.name, server: url }, 'health probe threw')
        schedule(c, i, c.cfg.interval)
      })
    }, delay)
    timers.add(t)
  }
  // Servers are probed out of step with each other, so a host with many servers does not send bursts of probes.
  for (const c of checked) c.urls.forEach((_, i) => { schedule(c, i, Math.floor(c.cfg.interval * (i + 1) / (c.urls.length + 1))) })

  return {
    snapshot: () => checked.map((c) => ({ upstream: c.name, healthy: effective(c) })),
    status () {
      const out: ReturnType<ActiveHealth['status']> = {}
      for (const c of checked) {
        out[c.name] = c.servers.map((s, i) => s.lastReason === undefined || s.healthy
          ? { url: c.urls[i]!, healthy: s.healthy }
          : { url: c.urls[i]!, healthy: s.healthy, reason: s.lastReason })
      }
      return out
    },
    async close () {
      closed = true
      for (const t of timers) clearTimeout(t)
      timers.clear()
    }
  }
}

/** GET over a fresh connection (Connection: close); ok when the status is in `expect` before `timeoutMs`. */
export function httpProbe (): Probe {
  return async (url, host, timeoutMs, expect, via) => {
    const u = new URL(url)
    const r = await (via.protocol === 'h1' ? probeServer : probeServerH2)(via, u.pathname + u.search, host, timeoutMs)
    if ('reason' in r) return { ok: false, reason: r.reason }
    if (expect.some(([lo, hi]) => r.status >= lo && r.status <= hi)) return { ok: true }
    return { ok: false, reason: `status ${r.status}` }
  }
}
