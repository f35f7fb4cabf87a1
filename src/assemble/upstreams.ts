// Per upstream: its targets, pools, balancing strategy (with sticky sessions when configured) and passive health,
// built once per config. The balance and upstream stages of every route naming it share these.
import type { Config } from '../config/index.ts'
import { createStrategy, createSticky, type Sticky, type Target } from '../balancer/index.ts'
import { createServerStates, type ServerStates } from '../health/index.ts'
import { createPools, closePools, type UpstreamClock, type UpstreamRuntime } from '../upstream/index.ts'
import type { KeySpace } from '../state/index.ts'
import type { RuntimeServices } from './services.ts'

/** One upstream as the routes use it. */
export interface AssembledUpstream {
  readonly runtime: UpstreamRuntime
  readonly states: ServerStates
  /** Sticky sessions, when the upstream has `sticky`: its stage replaces the balance stage. */
  readonly sticky: Sticky | undefined
}

/** `clock`: the upstream client's one timer and read buffer, shared by every pool of the runtime. */
export function assembleUpstreams (config: Config, services: RuntimeServices, keys: KeySpace, now: () => number, clock: UpstreamClock): Map<string, AssembledUpstream> {
  const out = new Map<string, AssembledUpstream>()
  for (const [name, u] of Object.entries(config.upstreams)) {
    const targets: Target[] = u.servers.map((s, index) => ({ index, url: s.url, weight: s.weight, inflight: 0, healthy: true }))
    let strategy = createStrategy(u.balance, targets, { random: services.random, hashBy: u.hash?.by ?? 'ip' })
    let sticky: Sticky | undefined
    if (u.sticky !== undefined) {
      sticky = createSticky({
        config: u.sticky,
        strategy,
        targets,
        state: services.state,
        key: (session) => keys.key('sticky', `${name}|${session}`),
        channel: keys.channel(`sticky:${name}`),
        now,
        log: services.log.child({ upstream: name, concept: 'sticky' }),
        ...(services.randomFill === undefined ? {} : { randomFill: services.randomFill })
      })
      // Retries of a request with a session go where every other worker would move it.
      strategy = sticky.strategy
    }
    const states = createServerStates({ targets, config: u.passive, now, onEvent: (e) => { services.onEjection?.(name, e) } })
    const runtime: UpstreamRuntime = {
      name,
      targets,
      pools: createPools(u, clock),
      hosts: u.servers.map((s) => new URL(s.url).host),
      strategy,
      retries: u.retries,
      states,
      ...(services.meter === undefined ? {} : { meter: services.meter(name) })
    }
    out.set(name, { runtime, states, sticky })
  }
  return out
}

/** Stops the upstreams' timers and closes their pools once in-flight requests finish (bounded by graceMs). */
export async function closeUpstreams (upstreams: ReadonlyMap<string, AssembledUpstream>, graceMs: number): Promise<void> {
  for (const u of upstreams.values()) u.states.close()
  await Promise.all([...upstreams.values()].map(async (u) => {
    await Promise.all([closePools(u.runtime.pools, graceMs), u.sticky?.close()])
  }))
}
