// A route's security_headers as the flat `[name, value, …]` list written on each of its responses, built once.
import type { SecurityHeadersConfig } from '../config/index.ts'

/** Lower-case names of the fields this builds: the backend's own copies are dropped so the client gets one. */
export const SECURITY_HEADER_NAMES: readonly string[] = ['strict-transport-security', 'x-content-type-options', 'x-frame-options']

export function securityHeaderFields (c: SecurityHeadersConfig): string[] {
  const out: string[] = []
  if (c.hsts !== undefined) {
    let v = `max-age=${c.hsts.max_age}`
    if (c.hsts.include_subdomains) v += '; includeSubDomains'
    if (c.hsts.preload) v += '; preload'
    out.push('strict-transport-security', v)
  }
  if (c.content_type_options) out.push('x-content-type-options', 'nosniff')
  if (c.frame_options !== false) out.push('x-frame-options', c.frame_options)
  return out
}
