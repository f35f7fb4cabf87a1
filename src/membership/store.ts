// Runtime membership in shared state, so every host applies the same changes: the admin API's server changes
// (one expiring set per upstream, members that never expire) and the service registry (one expiring set per
// service: a member lives until its heartbeat's TTL runs out). A change is announced on one channel; every
// primary re-reads on the announcement and also polls, so a missed message only delays it.
import type { Logger } from 'pino'
import type { KeySpace, SharedState } from '../state/index.ts'
import type { MemberChange, MembershipSnapshot } from './overlay.ts'

/** Membership changes made through the API do not expire; ten years stands for never in an expiring set. */
const FOREVER_MS = 10 * 365 * 24 * 3600 * 1000

export interface MembershipStore {
  /** Records one server's state for an upstream (replacing what was recorded for that URL) and announces it. */
  setServer (upstream: string, change: MemberChange): Promise<void>
  /** Registers (or renews) `url` as a live member of `service` for `ttlMs`, and announces it when it is new. */
  register (service: string, url: string, ttlMs: number): Promise<void>
  /** Removes `url` from `service` at once and announces it. */
  deregister (service: string, url: string): Promise<void>
  /** The changes of `upstreams` and the live members of `services`. Rejects with StateUnavailableError. */
  read (upstreams: readonly string[], services: readonly string[]): Promise<MembershipSnapshot>
  /** Calls `onChange` on every announcement from any host; resolves to an unsubscribe function. */
  subscribe (onChange: () => void): Promise<() => Promise<void>>
}

export interface MembershipStoreOptions {
  readonly state: SharedState
  readonly keys: KeySpace
  /** Wall clock in ms (expiries are compared across hosts). */
  readonly now: () => number
  readonly log?: Logger
}

export function createMembershipStore ({ state, keys, now }: MembershipStoreOptions): MembershipStore {
  const channel = keys.channel('membership')
  const membersKey = (upstream: string): string => keys.key('members', upstream)
  const registryKey = (service: string): string => keys.key('registry', service)
  const announce = async (what: string): Promise<void> => { await state.publish(channel, new TextEncoder().encode(what)) }

  return {
    async setServer (upstream, change) {
      const key = membersKey(upstream)
      const t = now()
      const old = (await state.listExpiring(key, t)).map((m) => m.member).filter((m) => decodeChange(m)?.url === change.url)
      if (old.length > 0) await state.removeExpiring(key, ...old)
      await state.addExpiring(key, JSON.stringify(change), t + FOREVER_MS, t)
      await announce(`members ${upstream}`)
    },
    async register (service, url, ttlMs) {
      const key = registryKey(service)
      const t = now()
      const known = (await state.listExpiring(key, t)).some((m) => m.member === url)
      await state.addExpiring(key, url, t + ttlMs, t)
      if (!known) await announce(`registry ${service}`)
    },
    async deregister (service, url) {
      await state.removeExpiring(registryKey(service), url)
      await announce(`registry ${service}`)
    },
    async read (upstreams, services) {
      const t = now()
      const changes: Record<string, MemberChange[]> = {}
      const live: Record<string, string[]> = {}
      await Promise.all([
        ...upstreams.map(async (u) => {
          changes[u] = (await state.listExpiring(membersKey(u), t)).map((m) => decodeChange(m.member)).filter((c) => c !== undefined)
        }),
        ...services.map(async (s) => {
          live[s] = (await state.listExpiring(registryKey(s), t)).map((m) => m.member)
        })
      ])
      return { changes, services: live }
    },
    async subscribe (onChange) {
      return await state.subscribe(channel, () => { onChange() })
    }
  }
}

function decodeChange (member: string): MemberChange | undefined {
  try {
    const v = JSON.parse(member) as Partial<MemberChange>
    if (typeof v.url !== 'string' || typeof v.weight !== 'number' || (v.state !== 'active' && v.state !== 'drain' && v.state !== 'removed')) return undefined
    return { url: v.url, weight: v.weight, state: v.state }
  } catch { return undefined }
}
