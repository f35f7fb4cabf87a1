// Entry stages a listener runs before (or instead of) the runtime's, whatever its engine: the HTTP→HTTPS redirect of a plain listener
// with `redirect_https`, and the SNI/Host check of a TLS listener's SNI certificates (421 on a mismatch).
import { DONE, runStages, type Exchange, type Stage } from '../pipeline/index.ts'
import { hostname, coveredBy } from '../router/index.ts'

// A host name or an IPv4 address, lower-case, nothing else: it goes into a Location header.
const SAFE_HOST = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/

export interface RedirectOptions {
  readonly port: number
  readonly status: 301 | 308
  /** Fallback host when the request's Host is not one we serve over TLS. */
  readonly host?: string | undefined
  /** Names (exact or `*.`) we serve over TLS: route hosts and the names the HTTPS listener's certificates cover. */
  readonly hosts: readonly string[]
  readonly nextId: () => string
}

/**
 * Answers every request with a redirect to the same path and query over HTTPS. The request's Host is used only when
 * it is one this proxy serves over TLS, so the redirect never points at a host a client (or a cache in front) made up.
 */
export function createRedirect (o: RedirectOptions): Stage {
  const suffix = o.port === 443 ? '' : `:${o.port}`
  const reason = o.status === 301 ? '301 Moved Permanently' : '308 Permanent Redirect'
  return {
    name: 'redirect_https',
    run (ex) {
      ex.requestId = o.nextId()
      const name = hostname(ex.host)
      const host = SAFE_HOST.test(name) && coveredBy(o.hosts, name) ? name : o.host
      if (host === undefined) return ex.reject('SWY_MISDIRECTED', true)
      let path = ex.path.startsWith('/') ? ex.path : '/' // absolute-form targets are not redirected elsewhere
      path = escape(path)
      const location = `https://${host}${suffix}${path}${ex.query === '' ? '' : `?${escape(ex.query)}`}`
      ex.status = o.status
      ex.downstream.reply(o.status, ['location', location, 'content-type', 'text/plain', 'x-request-id', ex.requestId], `${reason}: ${location}\n`, false)
      return DONE
    }
  }
}

/** Bytes outside printable ASCII percent-encoded (uWS hands over raw request bytes; writeHeader checks nothing). */
function escape (s: string): string {
  return /[^\x21-\x7e]/.test(s) ? s.replace(/[^\x21-\x7e]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`) : s
}

/**
 * For the server names of one SNI certificate: a request whose Host that certificate does not cover gets 421
 * (RFC 9110 §15.5.20) and the connection closes, so the client retries on a connection with the right SNI. uWS picks
 * the certificate and router by SNI alone (docs/uws.md §4); without this, a client could send the SNI of one host
 * and the Host of another (domain fronting).
 */
export function createSniCheck (hosts: readonly string[], next: () => readonly Stage[], nextId: () => string): Stage {
  return {
    name: 'sni',
    run (ex: Exchange) {
      if (!coveredBy(hosts, hostname(ex.host))) {
        ex.requestId = nextId()
        return ex.reject('SWY_MISDIRECTED', true)
      }
      const p = runStages(next(), ex)
      return p === undefined ? DONE : p.then(() => DONE)
    }
  }
}
