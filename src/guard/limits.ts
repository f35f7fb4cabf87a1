// The route's request limits: its method allowlist (405 with Allow) and its body size (413 from Content-Length here,
// and from the counted bytes of a chunked body in the listener, which reads ex.maxBody).
import { NEXT, type Stage } from '../pipeline/index.ts'

export interface RouteLimits {
  /** Most request-body bytes. */
  readonly maxBody: number
  /** Methods admitted, upper-case. */
  readonly methods: readonly string[]
  /** Every method uWS accepts (the default): no method check is built then. */
  readonly allMethods: boolean
}

export function createLimits ({ maxBody, methods, allMethods }: RouteLimits): Stage {
  const allow = ['allow', methods.join(', ')]
  const admitted: ReadonlySet<string> = new Set(methods)
  if (allMethods) {
    return {
      name: 'limits',
      run (ex) {
        // Refused before any upstream request; the connection closes rather than read a body nobody wants.
        if (ex.contentLength > maxBody) return ex.reject('SWY_REQUEST_TOO_LARGE', true)
        ex.maxBody = maxBody
        return NEXT
      }
    }
  }
  return {
    name: 'limits',
    run (ex) {
      if (!admitted.has(ex.method)) return ex.reject('SWY_METHOD_NOT_ALLOWED', false, allow)
      if (ex.contentLength > maxBody) return ex.reject('SWY_REQUEST_TOO_LARGE', true)
      ex.maxBody = maxBody
      return NEXT
    }
  }
}
