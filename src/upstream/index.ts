// Public surface of upstream/.
export { createPools, closePools, serverConnect, type ServerConnect } from './pools.ts'
export { createBalance, createForward, type UpstreamRuntime, type ForwardOptions } from './forward.ts'
export { buildRequestHeaders, createResponseHeaderFilter } from './hop-headers.ts'
export { classifyUpstreamError, IDEMPOTENT_METHODS } from './errors.ts'
