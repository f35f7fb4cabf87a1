// Public surface of errors/.
export { ERROR_CODES, statusOf, type ErrorCode } from './codes.ts'
export { SwitchyardError, UpstreamError } from './switchyard-error.ts'
