// One GET on a fresh connection for the primary's active health checks, through the same client, TLS settings
// and strict parser as requests: a server whose answers requests would refuse does not pass its checks either.
import { UpstreamClock } from './clock.ts'
import { ServerPool } from './pool.ts'
import type { ResponseHandler, ServerAddress, UpstreamFailure } from './connection.ts'
import { encodeRequestHead, NO_BODY } from './request-head.ts'

/** A probe's answer: the status, or why there was none (an error code, or the timeout). */
export type ProbeOutcome = { readonly status: number } | { readonly reason: string }

/**
 * GET `path` on `address` with `Connection: close` (a pooled connection would hide a server that no longer
 * accepts new ones); the body is read and dropped. Settles within about `timeoutMs`.
 */
export async function probeServer (address: ServerAddress, path: string, host: string, timeoutMs: number): Promise<ProbeOutcome> {
  const clock = new UpstreamClock()
  const pool = new ServerPool({ ...address, timeouts: { connect: timeoutMs, response: timeoutMs, idle: timeoutMs } }, 1, clock)
  const late = `no answer within ${timeoutMs} ms`
  try {
    return await new Promise<ProbeOutcome>((resolve) => {
      let status = 0
      const handler: ResponseHandler = {
        onHead (s) { status = s },
        onWhole (s) { status = s },
        onBody () { return true },
        onEnd () { resolve({ status }) },
        onError (err: UpstreamFailure) {
          const t = err.code === 'UPSTREAM_CONNECT_TIMEOUT' || err.code === 'UPSTREAM_RESPONSE_TIMEOUT'
          resolve({ reason: t ? late : err.code })
        }
      }
      const head = encodeRequestHead('GET', path, ['host', host, 'user-agent', 'switchyard-health', 'connection', 'close'], NO_BODY)
      const call = pool.request({ head, isHead: false, body: null, chunked: false, length: -1, retryStale: false }, handler)
      // The clock's sweep is coarse; the probe's own deadline is exact.
      setTimeout(() => { call.cancel(); resolve({ reason: late }) }, timeoutMs).unref()
    })
  } finally {
    await pool.close(0)
    clock.close()
  }
}
