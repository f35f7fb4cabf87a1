// Every open relay of one runtime, and the one coarse timer that closes idle ones (routes[].websocket.idle_timeout).
import type { Relay, RelaySet } from './relay.ts'

export interface Relays extends RelaySet {
  readonly size: number
  /** Stops the sweep; open relays are left to the listener's drain. */
  close (): void
}

export function createRelays (now: () => number, sweepMs = 1000): Relays {
  const open = new Set<Relay>()
  const timer = setInterval(() => {
    const t = now()
    for (const r of open) {
      const idle = r.idleTimeout
      if (idle > 0 && t - r.lastActive >= idle) r.closeBoth(1001, 'idle timeout')
    }
  }, sweepMs)
  timer.unref()
  return {
    get size () { return open.size },
    add (r) { open.add(r) },
    delete (r) { open.delete(r) },
    close () { clearInterval(timer) }
  }
}
