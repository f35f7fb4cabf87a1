// Public surface of response/: Switchyard's own answers (error bodies), security headers, status lines.
export { createLocalReplies } from './local-reply.ts'
export { securityHeaderFields, SECURITY_HEADER_NAMES } from './security-headers.ts'
export { statusLine } from './status-line.ts'
