// What the primary reads from the host at scrape time: established client connections per listener (the kernel's
// socket tables, so no worker is asked) and listener certificate expiries (read once per config).
import { readFileSync } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import type { Config } from '../config/index.ts'

const TABLES = ['/proc/net/tcp', '/proc/net/tcp6']
const ESTABLISHED = '01'

/**
 * Established TCP connections whose local port is one of `ports`, by port. `read` returns a table's text (default
 * /proc/net/tcp and tcp6; '' where there is none, e.g. not Linux).
 */
export function establishedByPort (ports: readonly number[], read: (file: string) => string = readTable): Map<number, number> {
  const out = new Map<number, number>(ports.map((p) => [p, 0]))
  for (const file of TABLES) {
    const lines = read(file).split('\n')
    for (let i = 1; i < lines.length; i++) {
      // "  sl  local_address rem_address   st ...": local is ADDR:PORT in hex.
      const cols = lines[i]!.trim().split(/\s+/)
      if (cols.length < 4 || cols[3] !== ESTABLISHED) continue
      const local = cols[1]!
      const port = parseInt(local.slice(local.lastIndexOf(':') + 1), 16)
      const n = out.get(port)
      if (n !== undefined) out.set(port, n + 1)
    }
  }
  return out
}

function readTable (file: string): string {
  try { return readFileSync(file, 'latin1') } catch { return '' }
}

export interface CertExpiry { readonly listener: string, readonly cert: string, readonly notAfter: number }

/** Expiry (Unix seconds) of every listener certificate of `config`; a file that cannot be read is left out. */
export function certExpiries (config: Config): CertExpiry[] {
  const out: CertExpiry[] = []
  for (const l of config.listen) {
    const t = l.tls
    if (t === undefined) continue
    const listener = `${l.host}:${l.port}`
    const files = [...(t.cert === undefined ? [] : [t.cert]), ...t.certificates.map((c) => c.cert)]
    for (const cert of files) {
      try {
        const x = new X509Certificate(readFileSync(cert))
        out.push({ listener, cert, notAfter: Math.floor(Date.parse(x.validTo) / 1000) })
      } catch { /* checked when the config was loaded; gone since: nothing to show */ }
    }
  }
  return out
}
