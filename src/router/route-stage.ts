// The route stage: host, then the longest path prefix, picks the route, and the route's own stages run next (limits,
// access, rate limit, cache, balance, upstream). A request that matches no route gets 404.
import { DONE, runStages, type RouteRef, type Stage } from '../pipeline/index.ts'
import { createRouter } from './router.ts'

/** One route as the assembler built it: where it matches, and what it runs. */
export interface CompiledRoute {
  /** `match.host`: exact or `*.domain`; undefined for any host. */
  readonly host: string | undefined
  /** `match.path`. */
  readonly prefix: string
  /** `strip_prefix`: the backend gets the path without `prefix`. */
  readonly strip: boolean
  /** What the exchange carries (its id, upstream, response headers and stages). */
  readonly ref: RouteRef
}

export function createRouteStage (routes: readonly CompiledRoute[]): Stage {
  const router = createRouter(routes.map((r) => ({ host: r.host, prefix: r.prefix, value: r })))
  return {
    name: 'route',
    run (ex) {
      const r = router.match(ex.host, ex.path)
      if (r === undefined) return ex.reject('SWY_ROUTE_NOT_FOUND')
      ex.route = r.ref
      if (r.strip) ex.forwardPath = stripPrefix(ex.path, r.prefix)
      const p = runStages(r.ref.stages, ex)
      return p === undefined ? DONE : p.then(() => DONE)
    }
  }
}

/** `/v1/users` under `/v1/` → `/users`; the result always starts with `/`. */
export function stripPrefix (path: string, prefix: string): string {
  const keep = prefix.endsWith('/') ? prefix.length - 1 : prefix.length
  const rest = path.slice(keep)
  if (rest === '') return '/'
  return rest.charCodeAt(0) === 47 ? rest : `/${rest}`
}
