// Admin API routes for runtime membership: servers added, drained or removed per upstream, and service members
// registered with a TTL heartbeat. Each change goes to shared state first (so every host applies it), then this
// host applies it before answering.
import { parseDuration, urlProblem, type Config } from '../config/index.ts'
import type { MemberChange, MembershipStore } from '../membership/index.ts'
import type { AdminReply, AdminRoute } from './api.ts'

export interface MembershipContext {
  readonly store: () => MembershipStore
  /** The config file's upstreams (what may be changed). */
  readonly fileConfig: () => Config
  /** Re-reads membership and applies it here; resolves once this host serves the result. */
  readonly refresh: (why: string) => Promise<void>
  /** The upstreams as served now, for the answer. */
  readonly served: () => Config
}

const bad = (message: string): AdminReply => ({ status: 400, body: { error: 'SWY_ADMIN_BODY', message } })
const unavailable = (err: unknown): AdminReply => ({ status: 503, body: { error: 'SWY_STATE_UNAVAILABLE', message: `shared state is unavailable: ${(err as Error).message}` } })

function readUrl (body: unknown): string | AdminReply {
  const url = (body as { url?: unknown } | undefined)?.url
  if (typeof url !== 'string') return bad('body must be JSON with a url, e.g. {"url":"http://10.0.0.7:9001"}')
  const why = urlProblem(url)
  return why === undefined ? new URL(url).origin : bad(`url ${why}`)
}

export function createMembershipRoutes (c: MembershipContext): AdminRoute[] {
  const upstreamOf = (name: string): AdminReply | undefined => c.fileConfig().upstreams[name] === undefined
    ? { status: 404, body: { error: 'SWY_ADMIN_NOT_FOUND', message: `no upstream "${name}" (defined: ${Object.keys(c.fileConfig().upstreams).join(', ')})` } }
    : undefined
  const servers = (name: string): AdminReply => ({ status: 200, body: { upstream: name, servers: c.served().upstreams[name]?.servers ?? [] } })
  /** Writes one server's state to shared state, applies it here, and answers the upstream's servers. */
  const change = async (name: string, member: MemberChange, why: string): Promise<AdminReply> => {
    try {
      await c.store().setServer(name, member)
    } catch (err) { return unavailable(err) }
    await c.refresh(`admin API: ${why}`)
    return servers(name)
  }

  return [
    {
      method: 'PUT',
      path: '/api/upstreams/:name/servers',
      handler: async ({ name }, body) => {
        const missing = upstreamOf(name!)
        if (missing !== undefined) return missing
        const url = readUrl(body)
        if (typeof url !== 'string') return url
        const { weight = 1, drain = false } = body as { weight?: unknown, drain?: unknown }
        if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > 1000) return bad('weight must be a whole number from 1 to 1000')
        if (typeof drain !== 'boolean') return bad('drain must be true or false')
        return await change(name!, { url, weight, state: drain ? 'drain' : 'active' }, `${drain ? 'drain' : 'add'} ${url} in ${name!}`)
      }
    },
    {
      method: 'DELETE',
      path: '/api/upstreams/:name/servers',
      handler: async ({ name }, body) => {
        const missing = upstreamOf(name!)
        if (missing !== undefined) return missing
        const url = readUrl(body)
        if (typeof url !== 'string') return url
        return await change(name!, { url, weight: 1, state: 'removed' }, `remove ${url} from ${name!}`)
      }
    },
    {
      method: 'PUT',
      path: '/api/services/:name/members',
      handler: async ({ name }, body) => {
        if (!/^[A-Za-z0-9_.-]{1,128}$/.test(name!)) return bad('a service name is 1 to 128 letters, digits, _, . or -')
        const url = readUrl(body)
        if (typeof url !== 'string') return url
        const ttl = parseDuration((body as { ttl?: unknown }).ttl as string ?? '10s')
        if (ttl === undefined || ttl < 1000 || ttl > 3_600_000) return bad('ttl must be a duration from 1s to 1h, e.g. "10s"')
        try {
          await c.store().register(name!, url, ttl)
        } catch (err) { return unavailable(err) }
        return { status: 200, body: { service: name, url, ttl_ms: ttl } }
      }
    },
    {
      method: 'DELETE',
      path: '/api/services/:name/members',
      handler: async ({ name }, body) => {
        const url = readUrl(body)
        if (typeof url !== 'string') return url
        try {
          await c.store().deregister(name!, url)
        } catch (err) { return unavailable(err) }
        return { status: 200, body: { service: name, url, removed: true } }
      }
    }
  ]
}
