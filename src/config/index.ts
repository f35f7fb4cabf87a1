// Public surface of config/.
export { loadConfig, loadConfigFile, parseConfigText, type LoadFileOptions } from './load.ts'
export { ConfigError, type ConfigProblem } from './config-error.ts'
export type { Config, ConfigInput, UpstreamConfig, RouteConfig, StickyConfig, RouteCacheConfig, LimitsConfig, SecurityHeadersConfig } from './schema.ts'
export { urlProblem, HTTP_METHODS } from './schema.ts'
export { parseDuration, parseSize } from './units.ts'
