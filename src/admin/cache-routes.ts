// Admin API route for the HTTP cache: POST /api/cache/purge removes entries by exact URL, URL prefix or tag from the
// shared level and (pub/sub) from every worker's memory on every host sharing state.
import type { PurgeSelector } from '../cache/store/index.ts'
import type { AdminReply, AdminRoute } from './api.ts'

export interface CacheAdminContext {
  /** Purges cluster-wide; resolves how many keys left the shared level, and false if shared state failed meanwhile. */
  readonly purge: (selector: PurgeSelector) => Promise<{ readonly purged: number, readonly complete: boolean }>
}

const USAGE = 'body must be JSON with exactly one of url, prefix or tag, e.g. {"url":"example.com/a?b=1"}, {"prefix":"example.com/img/"} or {"tag":"product-42"}'
const bad = (message: string): AdminReply => ({ status: 400, body: { error: 'SWY_ADMIN_BODY', message } })

/**
 * URLs are `host/path?query` as clients sent them (host lower-case, its port if the client sent one). A scheme is
 * accepted and dropped, so `https://Example.com/a` purges `example.com/a`.
 */
export function normalisePurgeUrl (u: string): string {
  const rest = u.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
  const slash = rest.indexOf('/')
  const host = slash < 0 ? rest : rest.slice(0, slash)
  return host.toLowerCase() + (slash < 0 ? '' : rest.slice(slash))
}

export function readSelector (body: unknown): PurgeSelector | AdminReply {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return bad(USAGE)
  const b = body as Record<string, unknown>
  const given = (['url', 'prefix', 'tag'] as const).filter((k) => b[k] !== undefined)
  const extra = Object.keys(b).filter((k) => k !== 'url' && k !== 'prefix' && k !== 'tag')
  if (given.length !== 1 || extra.length > 0) return bad(USAGE)
  const k = given[0]!
  const v = b[k]
  if (typeof v !== 'string' || v === '' || v.length > 8192) return bad(`${k} must be a non-empty string (at most 8192 characters)`)
  if (k === 'tag') return { tag: v }
  if (k === 'url') return { url: normalisePurgeUrl(v) }
  return { prefix: normalisePurgeUrl(v) }
}

export function createCacheRoutes (c: CacheAdminContext): AdminRoute[] {
  return [{
    method: 'POST',
    path: '/api/cache/purge',
    handler: async (_params, body) => {
      const selector = readSelector(body)
      if (!('url' in selector || 'prefix' in selector || 'tag' in selector)) return selector
      const { purged, complete } = await c.purge(selector)
      if (!complete) {
        return { status: 503, body: { error: 'SWY_STATE_UNAVAILABLE', message: 'shared state is unavailable: the purge may not have reached every entry and worker; retry', ...selector, purged } }
      }
      return { status: 200, body: { ...selector, purged } }
    }
  }]
}
