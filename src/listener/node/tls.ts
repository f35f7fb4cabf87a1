// TLS termination on the node engine: a secure context per certificate, chosen by SNI as uWS chooses (an exact server
// name first, then a one-label wildcard, else the default), and, per connection, the server names of the certificate
// it got, for the 421 check (entry-stages.ts).
import { readFileSync } from 'node:fs'
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls'
import { checkCertPair, type FileCheck, type ListenConfig } from '../../config/index.ts'

export type ListenTls = NonNullable<ListenConfig['tls']>

export interface NodeTls {
  /** For tls.createServer and http2.createSecureServer: the default certificate and the SNI callback. */
  readonly options: { key: Buffer, cert: Buffer, passphrase?: string, SNICallback: (name: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void }
  /** The server names of the `certificates` entry a connection's SNI chose, or null for the default certificate. */
  hostsOf (socket: TLSSocket): readonly string[] | null
}

interface Pair { readonly cert: string, readonly key: string, readonly passphrase?: string | undefined }

/**
 * Reads and checks every certificate of listener `at` (`listen[1]`); throws an Error naming the key path when a file
 * is unusable (the primary checked them at load; they may have changed since).
 */
export function createNodeTls (tls: ListenTls, at: string): NodeTls {
  const check: FileCheck = { problems: [], warnings: [] }
  const now = Date.now()
  const def: Pair = tls.cert !== undefined && tls.key !== undefined
    ? { cert: tls.cert, key: tls.key, passphrase: tls.passphrase }
    : tls.certificates[0]!
  checkCertPair(def, tls.cert !== undefined ? `${at}.tls` : `${at}.tls.certificates[0]`, now, [], check)
  tls.certificates.forEach((e, i) => { checkCertPair(e, `${at}.tls.certificates[${i}]`, now, [], check) })
  if (check.problems.length > 0) throw new Error(check.problems.map((p) => `${p.path}: ${p.reason}`).join('; '))

  const exact = new Map<string, { ctx: SecureContext, hosts: readonly string[] }>()
  const wild = new Map<string, { ctx: SecureContext, hosts: readonly string[] }>()
  for (const e of tls.certificates) {
    const entry = { ctx: createSecureContext(material(e)), hosts: e.hosts }
    for (const h of e.hosts) {
      const m = h.startsWith('*.') ? wild : exact
      if (!m.has(h)) m.set(h, entry)
    }
  }
  const choose = (servername: string): { ctx: SecureContext, hosts: readonly string[] } | undefined => {
    const name = servername.toLowerCase()
    const e = exact.get(name)
    if (e !== undefined) return e
    const dot = name.indexOf('.')
    return dot > 0 ? wild.get(`*${name.slice(dot)}`) : undefined
  }
  const d = material(def)
  return {
    options: {
      ...d,
      SNICallback: (servername, cb) => { cb(null, choose(servername)?.ctx) }
    },
    hostsOf: (socket) => {
      const sn = socket.servername
      return typeof sn === 'string' ? choose(sn)?.hosts ?? null : null
    }
  }
}

function material (p: Pair): { key: Buffer, cert: Buffer, passphrase?: string } {
  const key = readFileSync(p.key)
  const cert = readFileSync(p.cert)
  return p.passphrase === undefined ? { key, cert } : { key, cert, passphrase: p.passphrase }
}
