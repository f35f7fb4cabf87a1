// TLS termination on uWS: one SSLApp per TLS listener, a default certificate and one server name per SNI host.
// uWS only takes file names and crashes on a bad file in addServerName (docs/uws.md §4), so every pair is checked
// again in Node here, right before uWS reads it (the primary checked it at load; the files may have changed since).
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocketBehavior } from 'uWebSockets.js'
import { checkCertPair, type ListenConfig, type FileCheck } from '../../config/index.ts'
import type { UWS } from '../../engine/index.ts'
import type { WsUserData } from './websocket.ts'

export type ListenTls = NonNullable<ListenConfig['tls']>
type Handler = (res: HttpResponse, req: HttpRequest) => void
/** What one router of the app runs: requests, and WebSocket upgrades when the listener takes them. */
interface Handlers {
  readonly any: Handler
  readonly ws: WebSocketBehavior<WsUserData> | undefined
}

export interface TlsApp {
  readonly app: TemplatedApp
  /** Lower-case names the listener's certificates cover (SAN DNS names and IPv4 addresses) and the SNI hosts. */
  readonly names: readonly string[]
}

/**
 * Builds the SSLApp for listener `at` (`listen[1]`). `handler(hosts)` makes the request handler for the server
 * names of one `certificates` entry (`hosts`), or for the default certificate (`null`). Throws an Error naming the
 * key path when a file is unusable.
 */
export function createTlsApp (uws: UWS, tls: ListenTls, at: string, handler: (hosts: readonly string[] | null) => Handlers): TlsApp {
  const check: FileCheck = { problems: [], warnings: [] }
  const now = Date.now()
  const names = new Set<string>()
  const addNames = (san: string | undefined): void => {
    for (const part of (san ?? '').split(',')) {
      const m = /^\s*(DNS|IP Address):(.+)$/.exec(part)
      if (m !== null && (m[1] === 'DNS' || !m[2]!.includes(':'))) names.add(m[2]!.trim().toLowerCase())
    }
  }
  const def = tls.cert !== undefined && tls.key !== undefined
    ? { cert: tls.cert, key: tls.key, passphrase: tls.passphrase }
    : tls.certificates[0]!
  const defInfo = checkCertPair(def, tls.cert !== undefined ? `${at}.tls` : `${at}.tls.certificates[0]`, now, [], check)
  addNames(defInfo?.x509.subjectAltName)
  tls.certificates.forEach((e, i) => {
    const info = checkCertPair(e, `${at}.tls.certificates[${i}]`, now, [], check)
    addNames(info?.x509.subjectAltName)
    for (const h of e.hosts) names.add(h)
  })
  if (check.problems.length > 0) throw new Error(check.problems.map((p) => `${p.path}: ${p.reason}`).join('; '))

  let app: TemplatedApp
  try {
    app = uws.SSLApp(files(def))
  } catch (err) {
    throw new Error(`${at}.tls: uWS refused the certificate (${(err as Error).message})`, { cause: err })
  }
  // The default router first: domain() switches where later routes go, and there is no way back to the default.
  const d = handler(null)
  app.any('/*', d.any)
  if (d.ws !== undefined) app.ws('/*', d.ws)
  for (const e of tls.certificates) {
    // Each server name has its own router, empty until routes are added through domain() (docs/uws.md §4).
    const h = handler(e.hosts)
    for (const host of e.hosts) {
      const r = app.addServerName(host, files(e)).domain(host).any('/*', h.any)
      if (h.ws !== undefined) r.ws('/*', h.ws)
    }
  }
  return { app, names: [...names] }
}

function files (p: { cert: string, key: string, passphrase?: string | undefined }): { cert_file_name: string, key_file_name: string, passphrase?: string } {
  return p.passphrase === undefined
    ? { cert_file_name: p.cert, key_file_name: p.key }
    : { cert_file_name: p.cert, key_file_name: p.key, passphrase: p.passphrase }
}
