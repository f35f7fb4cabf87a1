// Public surface of ratelimit/: the Limiter interface, the local and shared (leased) limiters, and the stage (bans/
// counts its refusals).
export { ADMIT, type Decision, type Limiter, type RateRule } from './limiter.ts'
export { createLocalLimiter, LocalBucket, type LocalLimiterOptions } from './local.ts'
export { createSharedLimiter, type SharedLimiter, type SharedLimiterOptions, type LimiterLog } from './shared.ts'
export { createRateLimit, keyReader, banSubject, type RateLimitOptions } from './stage.ts'
