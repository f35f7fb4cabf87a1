// Answers Switchyard gives itself (404, 502, 504, …): a short JSON body with the code and the request id, or for a
// gRPC request a trailers-only gRPC error. Backend addresses, causes and stacks go to the log only, beside the same
// request id.
import type { Logger } from 'pino'
import { ERROR_CODES, SwitchyardError, UpstreamError, type ErrorCode } from '../errors/index.ts'
import type { LocalReplies } from '../pipeline/index.ts'
import { grpcStatus, isGrpc } from './grpc-status.ts'

export function createLocalReplies (log: Logger): LocalReplies {
  // Built once: the body around the request id, per code. Request ids are restricted to URL-safe characters.
  const parts = new Map<ErrorCode, [string, string]>()
  // For gRPC clients: grpc-status and grpc-message (printable ASCII but '%', so nothing needs percent-encoding).
  const grpc = new Map<ErrorCode, [string, string]>()
  for (const [code, { text }] of Object.entries(ERROR_CODES)) {
    parts.set(code as ErrorCode, [`{"error":"${code}","message":"${text}","request_id":"`, '"}\n'])
    grpc.set(code as ErrorCode, [String(grpcStatus(code as ErrorCode)), `${code}: ${text}`])
  }
  return {
    reply (ex, code, close, extra) {
      if (isGrpc(ex.header('content-type'))) {
        // A trailers-only answer (HTTP 200, the status in the head, no body), as a gRPC server fails a call: a gRPC
        // client reads nothing from an HTTP error status or a JSON body.
        const [status, message] = grpc.get(code)!
        ex.status = 200
        const headers = ['content-type', 'application/grpc', 'grpc-status', status, 'grpc-message', message, 'x-request-id', ex.requestId]
        if (extra !== undefined) headers.push(...extra)
        ex.downstream.reply(200, headers, '', close)
        return
      }
      const [head, tail] = parts.get(code)!
      ex.status = ERROR_CODES[code].status
      const headers = ['content-type', 'application/json', 'x-request-id', ex.requestId]
      if (extra !== undefined) headers.push(...extra)
      ex.downstream.reply(ex.status, headers, head + ex.requestId + tail, close)
    },
    fault (ex, err) {
      const code = err instanceof SwitchyardError ? err.code : 'SWY_INTERNAL'
      const fields: Record<string, unknown> = { reqId: ex.requestId, code, method: ex.method, path: ex.path }
      if (err instanceof UpstreamError) fields.upstream = err.upstream
      if (err instanceof Error && err.cause !== undefined) fields.cause = describe(err.cause)
      if (code === 'SWY_INTERNAL') log.error({ ...fields, err }, 'internal error')
      else log.warn(fields, 'request failed')
    }
  }
}

function describe (cause: unknown): unknown {
  if (cause instanceof Error) return { name: cause.name, code: (cause as { code?: unknown }).code, message: cause.message }
  return cause
}

