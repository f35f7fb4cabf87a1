// Errors that carry a Switchyard code. Callers branch on `err.code`, never on message text.
import { ERROR_CODES, type ErrorCode } from './codes.ts'

export class SwitchyardError extends Error {
  readonly code: ErrorCode
  readonly status: number

  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SwitchyardError'
    this.code = code
    this.status = ERROR_CODES[code].status
  }
}

/** A fault talking to one upstream server. `retryable` is true only when no response byte was seen. */
export class UpstreamError extends SwitchyardError {
  readonly upstream: string
  readonly retryable: boolean

  constructor (code: ErrorCode, upstream: string, retryable: boolean, cause: unknown) {
    super(code, `${code} (${upstream})`, { cause })
    this.name = 'UpstreamError'
    this.upstream = upstream
    this.retryable = retryable
  }
}
