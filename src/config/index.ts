// Public surface of config/.
export { loadConfig, loadConfigFile, parseConfigText, type LoadFileOptions, type LoadOptions } from './load.ts'
export { checkCertPair, type CertInfo, type CertPair, type FileCheck } from './tls-files.ts'
export { ConfigError, type ConfigProblem } from './config-error.ts'
export type { Config, ConfigInput, UpstreamConfig, RouteConfig, StickyConfig, RouteCacheConfig, ListenConfig, LimitsConfig, SecurityHeadersConfig, WebSocketConfig } from './schema.ts'
export { urlProblem, listenerEngine, listenerHttp2, HTTP_METHODS, BALANCE_KINDS, type BalanceKind } from './schema.ts'
export { parseDuration, parseSize } from './units.ts'
export { engineMoves, nodeHasReusePort } from './engine-moves.ts'
