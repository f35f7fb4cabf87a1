// The access line: one JSON line per finished request, at info level.
import type { Logger } from 'pino'
import type { Exchange } from '../pipeline/index.ts'

export function createAccessLog (log: Logger, clock: () => number): (ex: Exchange) => void {
  const access = log.child({ kind: 'access' })
  return function logAccess (ex) {
    access.info({
      reqId: ex.requestId,
      client: ex.clientIp,
      method: ex.method,
      path: ex.path,
      status: ex.aborted && ex.status === 0 ? 499 : ex.status,
      bytes: ex.bytesSent,
      route: ex.route?.id,
      upstream: ex.target?.url,
      attempts: ex.attempts,
      cache: ex.cacheStatus ?? undefined,
      code: ex.errorCode ?? undefined,
      aborted: ex.aborted || undefined,
      ms: Math.round((clock() - ex.startTime) * 100) / 100
    })
  }
}
