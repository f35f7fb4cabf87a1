// The fleet view: each primary publishes its one-second summary to shared state (an entry with a short TTL, and its
// name in an expiring set), and reads everyone's back, so every host's dashboard shows all hosts and their sum. A
// host that stops publishing drops out when its entry expires. Shared-state faults only leave the view stale.
import { Buffer } from 'node:buffer'
import type { SharedState, KeySpace } from '../state/index.ts'
import type { HostSummary } from './summary.ts'

/** How long a summary stays visible without a newer one. */
const TTL_MS = 5000

export interface Fleet {
  /** Publishes this host's summary and resolves every live host's (this one's included), sorted by name. */
  exchange (s: HostSummary): Promise<HostSummary[]>
}

export function createFleet (o: { state: () => SharedState, keys: () => KeySpace, now?: () => number }): Fleet {
  const now = o.now ?? Date.now
  return {
    async exchange (s) {
      const state = o.state()
      const keys = o.keys()
      const members = keys.key('fleet', 'hosts')
      const t = now()
      await Promise.all([
        state.set(keys.key('fleet', s.host), Buffer.from(JSON.stringify(s)), TTL_MS),
        state.addExpiring(members, s.host, t + TTL_MS, t)
      ])
      const hosts = (await state.listExpiring(members, t)).map((m) => m.member)
      const values = await state.getMany(hosts.map((h) => keys.key('fleet', h)))
      const out: HostSummary[] = []
      for (const v of values) {
        if (v === undefined) continue
        try { out.push(JSON.parse(Buffer.from(v).toString('utf8')) as HostSummary) } catch { /* another version's entry: skipped */ }
      }
      return out.sort((a, b) => a.host.localeCompare(b.host))
    }
  }
}
