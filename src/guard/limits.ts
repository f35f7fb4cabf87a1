// The route's request limits: its method allowlist (405 with Allow) and its body size (413 from Content-Length here,
// and, through the body's limit, from the counted bytes of a chunked body as the engine feeds it: RequestBody).
import { NEXT, type Stage } from '../pipeline/index.ts'

export interface RouteLimits {
  /** Most request-body bytes. */
  readonly maxBody: number
  /** Methods admitted (case-sensitive, RFC 9110 §9.1). */
  readonly methods: readonly string[]
}

export function createLimits ({ maxBody, methods }: RouteLimits): Stage {
  const allow = ['allow', methods.join(', ')]
  const admitted: ReadonlySet<string> = new Set(methods)
  // Always checked: uWebSockets.js 20.57 passes any method on (`get`, `PURGE`, `M-SEARCH`), where 20.30 closed the
  // connection on all but nine upper-case ones.
  return {
    name: 'limits',
    run (ex) {
      if (!admitted.has(ex.method)) return ex.reject('SWY_METHOD_NOT_ALLOWED', false, allow)
      // Refused before any upstream request; the connection closes rather than read a body nobody wants.
      if (ex.contentLength > maxBody) return ex.reject('SWY_REQUEST_TOO_LARGE', true)
      ex.body?.limit(maxBody)
      return NEXT
    }
  }
}
