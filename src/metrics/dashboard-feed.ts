// What the dashboard shows, once a second: this host's summary (from the totals), published to shared state, and
// the fleet's summaries read back with their sum. Subscribers (open dashboard pages) get each new view; nothing here
// waits on a worker, and a shared-state fault leaves the fleet view as it was (this host's own part stays live).
import type { Logger } from 'pino'
import type { MetricsTotals } from './totals.ts'
import { SummaryRing, fleetTotal, type HostSummary, type ServerHealthView } from './summary.ts'
import type { Fleet } from './fleet.ts'

export interface DashboardView {
  readonly self: HostSummary
  readonly fleet: { readonly hosts: readonly HostSummary[], readonly total: ReturnType<typeof fleetTotal> }
}

export interface DashboardFeedOptions {
  readonly totals: MetricsTotals
  readonly host: string
  readonly info: () => { generation: number, workers: number }
  readonly health: () => ServerHealthView[]
  readonly fleet: Fleet
  readonly log: Logger
}

export class DashboardFeed {
  readonly #o: DashboardFeedOptions
  readonly #ring: SummaryRing
  readonly #subscribers = new Set<(v: DashboardView) => void>()
  #view: DashboardView | undefined
  #hosts: readonly HostSummary[] = []
  #timer: NodeJS.Timeout | undefined
  #lastWarn = 0
  #busy = false

  constructor (o: DashboardFeedOptions) {
    this.#o = o
    this.#ring = new SummaryRing(o.totals)
  }

  get view (): DashboardView | undefined { return this.#view }

  subscribe (fn: (v: DashboardView) => void): () => void {
    this.#subscribers.add(fn)
    return () => { this.#subscribers.delete(fn) }
  }

  start (): void {
    this.#ring.tick(Date.now())
    this.#timer = setInterval(() => { void this.#tick() }, 1000)
    this.#timer.unref()
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#subscribers.clear()
  }

  async #tick (): Promise<void> {
    if (this.#busy) return // a slow shared state: skip a second rather than pile up
    this.#busy = true
    try {
      this.#ring.tick(Date.now())
      const self = this.#ring.summary({ host: this.#o.host, ...this.#o.info(), health: this.#o.health() })
      try {
        this.#hosts = await this.#o.fleet.exchange(self)
      } catch (err) {
        if (Date.now() - this.#lastWarn > 10_000) {
          this.#lastWarn = Date.now()
          this.#o.log.warn({ reason: (err as Error).message }, 'dashboard: cannot share this host\'s summary; the fleet view is stale')
        }
      }
      // This host's own entry is always the fresh one.
      const hosts = [...this.#hosts.filter((h) => h.host !== self.host), self].sort((a, b) => a.host.localeCompare(b.host))
      const view = { self, fleet: { hosts, total: fleetTotal(hosts) } }
      this.#view = view
      for (const fn of this.#subscribers) fn(view)
    } finally {
      this.#busy = false
    }
  }
}
