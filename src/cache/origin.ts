// Which URLs an unsafe request may invalidate besides its own (RFC 9111 §4.4): Location and Content-Location targets
// of the request's origin, in the cache's `host/path?query` form.

/**
 * `target` resolved against the request (`url` as `host/path?query`, over HTTPS when `tls`), as `host/path?query`,
 * when its scheme and host are the request's; otherwise (another origin, or not a URL) undefined.
 */
export function sameOrigin (target: string, url: string, tls: boolean): string | undefined {
  const scheme = tls ? 'https:' : 'http:'
  let base: URL
  let u: URL
  try {
    base = new URL(`${scheme}//${url}`)
    u = new URL(target, base)
  } catch {
    return undefined
  }
  if (u.protocol !== scheme || u.host !== base.host) return undefined
  // The request's own host text (as keys have it, port included as sent), then the target's path and query.
  const slash = url.indexOf('/')
  return `${slash < 0 ? url : url.slice(0, slash)}${u.pathname}${u.search}`
}
