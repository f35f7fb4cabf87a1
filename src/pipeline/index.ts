// Public surface of pipeline/: the Exchange (per-request state), the Stage contract and the runner. It imports no
// stage: stages import it, and assemble/ puts them together.
export { NEXT, DONE, type Verdict } from './verdict.ts'
export { runStages, runExchange, runAfter } from './run.ts'
export { Exchange, sendWhole, sendByParts, type Stage, type StickySession, type Downstream, type EncodedHead, type LocalReplies, type RouteRef, type Hold, type ExchangeInit, type PeerAddress, type WsCounts } from './exchange.ts'
export type { ClientUpgrade, ClientSocket, ClientEvents } from './upgrade.ts'
export type { Target } from './target.ts'
export { RequestBody } from './request-body.ts'
export { createRequestIds } from './request-id.ts'
