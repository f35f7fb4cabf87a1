// Public surface of guard/.
export { createGuard, type GuardOptions } from './guard.ts'
export { createAccess, createAccessCheck, type AccessLists, type AccessCheck } from './access.ts'
export { createLimits, type RouteLimits } from './limits.ts'
export { createPathNormaliser, normalisePath, type PathOptions } from './path.ts'
export { createClientCaps, createConnectionCensus, countEstablished, type ConnectionCensus, type CensusOptions, type ClientCapsOptions } from './client-caps.ts'
