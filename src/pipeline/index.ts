// Public surface of pipeline/.
export { NEXT, DONE, type Stage, type Verdict } from './stage.ts'
export { runStages, runExchange } from './run.ts'
export { Exchange, sendWhole, sendByParts, type Downstream, type EncodedHead, type LocalReplies, type RouteRef, type Hold, type ExchangeInit, type PeerAddress } from './exchange.ts'
export { buildRuntime, stripPrefix, type Runtime, type RuntimeServices } from './build.ts'
export { createRequestIds } from './request-id.ts'
