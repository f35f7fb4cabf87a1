// Public surface of upstream/client/: the HTTP/1.1 client requests and health probes reach backend servers through
// (pools, connections, the strict response parser, deadlines) and what its failures mean. No stage here: the
// primary's health checks use it without loading the data path.
export { createPools, closePools, serverAddress, ServerPool, type Call } from './pool.ts'
export { UpstreamClock, type Swept } from './clock.ts'
export { UpstreamFailure, type UpstreamRequest, type ResponseHandler, type ServerAddress } from './connection.ts'
export { encodeRequestHead, NO_BODY, CHUNKED, LENGTH } from './request-head.ts'
export { classifyUpstreamError, IDEMPOTENT_METHODS, type Classified } from './errors.ts'
export { probeServer, type ProbeOutcome } from './probe.ts'
export { probeServerH2 } from './h2-probe.ts'
