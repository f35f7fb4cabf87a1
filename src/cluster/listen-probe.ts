// Startup check that every listen address is free, before any worker binds it. Workers bind with SO_REUSEPORT
// so that they can share a port, but that also lets them join a port another process (a second Switchyard)
// already serves, silently splitting its traffic. One plain, exclusive bind here refuses that case.
import { createServer } from 'node:net'
import { once } from 'node:events'
import { EXIT } from './messages.ts'
import { StartupError } from './supervisor.ts'

const REASONS: Record<string, string> = {
  EADDRINUSE: 'address in use',
  EADDRNOTAVAIL: 'address not available on this host',
  EACCES: 'permission denied (ports below 1024 need privileges)'
}

/** Binds and releases each address in turn; throws StartupError (exit 3) naming the first that fails. */
export async function probeListen (addresses: readonly { readonly host: string, readonly port: number }[]): Promise<void> {
  for (const a of addresses) {
    const server = createServer()
    try {
      server.listen({ host: a.host, port: a.port, exclusive: true })
      await once(server, 'listening')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? ''
      throw new StartupError(`cannot listen on ${a.host}:${a.port}: ${REASONS[code] ?? (code || (err as Error).message)}`, EXIT.STARTUP)
    } finally {
      if (server.listening) {
        server.close()
        await once(server, 'close')
      }
    }
  }
}
