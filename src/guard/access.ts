// Per-route access lists: allow/deny CIDRs checked against the client address (after trusted_proxies). A route
// without lists has no access stage at all.
import { NEXT, type Stage } from '../pipeline/index.ts'
import { createCidrSet } from '../net/index.ts'

export interface AccessLists {
  /** When not empty, only these addresses and CIDRs are admitted. */
  readonly allow: readonly string[]
  /** Refused, whatever allow says. */
  readonly deny: readonly string[]
}

/** Decides one address: true when it may pass. IPv4-mapped IPv6 matches IPv4 entries and back (node:net BlockList). */
export type AccessCheck = (clientIp: string) => boolean

/** The decision for `lists`, built once: deny wins over allow; a non-empty allow refuses everything else. */
export function createAccessCheck ({ allow, deny }: AccessLists): AccessCheck {
  const a = createCidrSet(allow)
  const d = createCidrSet(deny)
  if (a.size === 0) return (ip) => !d.has(ip)
  if (d.size === 0) return (ip) => a.has(ip)
  return (ip) => !d.has(ip) && a.has(ip)
}

/** The route's access stage, or undefined when both lists are empty (the route then runs none). */
export function createAccess (lists: AccessLists): Stage | undefined {
  if (lists.allow.length === 0 && lists.deny.length === 0) return undefined
  const admits = createAccessCheck(lists)
  return {
    name: 'access',
    run (ex) {
      return admits(ex.clientIp) ? NEXT : ex.reject('SWY_ACCESS_DENIED')
    }
  }
}
