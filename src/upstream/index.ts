// Public surface of upstream/: the upstream stage (forward.ts), header hygiene between client and backend, and the
// client it sends through (client/, which the primary's health checks use on their own).
export { createPools, closePools, serverAddress, ServerPool, UpstreamClock, UpstreamFailure, classifyUpstreamError, IDEMPOTENT_METHODS, probeServer, type Call, type UpstreamRequest, type ResponseHandler, type ServerAddress, type Classified, type ProbeOutcome } from './client/index.ts'
export { createForward, type UpstreamRuntime, type ForwardOptions, type UpstreamMeter } from './forward.ts'
export { buildRequestHeaders, createResponseHeaderFilter, HOP_BY_HOP, type ResponseHead, type RequestHeaderOptions } from './hop-headers.ts'
export { validTraceparent, createTraceStarter } from './traceparent.ts'
export { createH2Servers, closeH2Servers, createH2Forward, H2Server, type H2ForwardOptions } from './h2/index.ts'
