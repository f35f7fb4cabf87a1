// Loads the uWebSockets.js native binding directly, so the package's silent pure-Node fallback can never serve
// traffic (uws-notes.md §7): that fallback has no TLS, no SO_REUSEPORT and a third of the throughput.
import { createRequire } from 'node:module'

export type UWS = typeof import('uWebSockets.js')

export class UwsUnavailableError extends Error {
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'UwsUnavailableError'
  }
}

export function loadNativeUws (): UWS {
  if (process.env.UWS_USE_FALLBACK !== undefined && process.env.UWS_USE_FALLBACK !== '' && process.env.UWS_USE_FALLBACK !== '0') {
    throw new UwsUnavailableError('UWS_USE_FALLBACK is set: Switchyard refuses the slow pure-Node fallback of uWebSockets.js; unset it')
  }
  const abi = process.versions.modules
  const file = `uWebSockets.js/binaries/uws_${process.platform}_${process.arch}_${abi}.node`
  let uws: UWS
  try {
    uws = createRequire(import.meta.url)(file) as UWS
  } catch (err) {
    throw new UwsUnavailableError(
      `the uWebSockets.js native binary does not load on Node ${process.version} (${process.platform}-${process.arch}, ABI ${abi}): ` +
      `${(err as Error).message.split('\n')[0]}. Switchyard needs Node 20 on glibc ≥ 2.27 and refuses the pure-Node fallback.`, { cause: err })
  }
  if (typeof uws.SSLApp !== 'function' || !('LIBUS_LISTEN_EXCLUSIVE_PORT' in uws)) {
    throw new UwsUnavailableError('the uWebSockets.js native binding is not active (pure-Node fallback detected)')
  }
  // Drop the `uWebSockets: 20` response header (uws-notes.md §0).
  (uws as unknown as { _cfg (s: string): void })._cfg('silent')
  return uws
}
