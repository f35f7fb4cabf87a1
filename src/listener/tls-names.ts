// The names a TLS listener serves, whatever its engine: what its certificates cover (SAN DNS names and IPv4
// addresses) and the SNI hosts it lists. A plain listener's HTTPS redirect may point at these (entry-stages.ts).
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { ListenConfig } from '../config/index.ts'

/** Lower-case names covered by one listener's certificates; files that cannot be read add nothing. */
export function certificateNames (tls: NonNullable<ListenConfig['tls']>): string[] {
  const names = new Set<string>()
  const files = [...(tls.cert === undefined ? [] : [tls.cert]), ...tls.certificates.map((c) => c.cert)]
  for (const f of files) {
    let san: string | undefined
    try { san = new X509Certificate(readFileSync(f)).subjectAltName } catch { continue }
    for (const part of (san ?? '').split(',')) {
      const m = /^\s*(DNS|IP Address):(.+)$/.exec(part)
      if (m !== null && (m[1] === 'DNS' || !m[2]!.includes(':'))) names.add(m[2]!.trim().toLowerCase())
    }
  }
  for (const c of tls.certificates) for (const h of c.hosts) names.add(h)
  return [...names]
}

/** For each port, the names the TLS listeners on it serve. */
export function tlsNamesByPort (listen: readonly Pick<ListenConfig, 'port' | 'tls'>[]): (port: number) => readonly string[] {
  const byPort = new Map<number, string[]>()
  for (const l of listen) if (l.tls !== undefined) byPort.set(l.port, [...(byPort.get(l.port) ?? []), ...certificateNames(l.tls)])
  return (port) => byPort.get(port) ?? []
}
