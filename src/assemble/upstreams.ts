// Per upstream: its targets, pools, balancing strategy (with sticky sessions when configured) and passive health,
// built once per config. The balance and upstream stages of every route naming it share these.
import type { Config } from '../config/index.ts'
import { createStrategy, createSticky, type Sticky, type Target } from '../balancer/index.ts'
import { createServerStates, type ServerStates } from '../health/index.ts'
import {
  createPools, closePools, createForward, createH2Servers, closeH2Servers, createH2Forward, type ForwardOptions, type UpstreamClock, type UpstreamRuntime
} from '../upstream/index.ts'
import type { Stage } from '../pipeline/index.ts'
import type { KeySpace } from '../state/index.ts'
import type { RuntimeServices } from './services.ts'

/** One upstream as the routes use it. */
export interface AssembledUpstream {
  readonly runtime: UpstreamRuntime<unknown>
  /** The upstream stage for a route, by the upstream's protocol: HTTP/1.1 (forward.ts) or HTTP/2 (h2/). */
  readonly forward: (o: Omit<ForwardOptions, 'upstream'>) => Stage
  /** Closes the pools (or HTTP/2 sessions) once in-flight requests finish, cutting what is left after `graceMs`. */
  readonly close: (graceMs: number) => Promise<void>
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
    const base = {
      name,
      targets,
      hosts: u.servers.map((s) => new URL(s.url).host),
      strategy,
      retries: u.retries,
      states,
      ...(services.meter === undefined ? {} : { meter: services.meter(name) })
    }
    if (u.protocol === 'h1') {
      const runtime: UpstreamRuntime = { ...base, pools: createPools(u, clock) }
      const forward = (o: Omit<ForwardOptions, 'upstream'>): Stage => createForward({ ...o, upstream: runtime })
      out.set(name, { runtime, forward, close: async (graceMs) => { await closePools(runtime.pools, graceMs) }, states, sticky })
      continue
    }
    const runtime = { ...base, pools: createH2Servers(u) }
    const forward = (o: Omit<ForwardOptions, 'upstream'>): Stage => createH2Forward({ ...o, upstream: runtime, clock, responseMs: u.timeouts.response })
    out.set(name, { runtime, forward, close: async (graceMs) => { await closeH2Servers(runtime.pools, graceMs) }, states, sticky })
  }
  return out
}

/** Stops the upstreams' timers and closes their pools once in-flight requests finish (bounded by graceMs). */
export async function closeUpstreams (upstreams: ReadonlyMap<string, AssembledUpstream>, graceMs: number): Promise<void> {
  for (const u of upstreams.values()) u.states.close()
  await Promise.all([...upstreams.values()].map(async (u) => {
    await Promise.all([u.close(graceMs), u.sticky?.close()])
  }))
}
