// The token-bucket arithmetic, once in TypeScript (embedded store) and once in Lua (Redis), side by side so that a
// change to one is made to the other; the shared contract suite checks that both give the same numbers.
// The Redis store's other scripts (fixed window, expiring set) live here too.
import type { TokenRequest, TokenResult } from './shared-state.ts'

/** A bucket as stored: tokens at time `ts` (the caller's clock, ms). */
export interface Bucket { tokens: number, ts: number }

// Absorbs float error in tokens + elapsed * rate / 1000 (0.1 + 0.2 must still yield a whole token at 0.3 s × 10/s).
const EPSILON = 1e-9
/** Added to the time to refill before the bucket key expires, to absorb clock skew between hosts. */
export const BUCKET_TTL_SLACK_MS = 1000

/**
 * Refills `b` (undefined: a new, full bucket) to `nowMs` and takes up to `want` whole tokens. Time never runs
 * backwards for a bucket: a caller whose clock is behind the last one refills nothing (hosts' clocks differ).
 * Returns the new bucket state, the result, and how long the key may live (until the bucket would be full again,
 * when a fresh bucket is the same thing).
 */
export function takeFromBucket (b: Bucket | undefined, req: TokenRequest): { bucket: Bucket, result: TokenResult, ttlMs: number } {
  const { ratePerSec: rate, burst, want, nowMs: now } = req
  let tokens = burst
  let ts = now
  if (b !== undefined) {
    ts = Math.max(b.ts, now)
    tokens = Math.min(burst, b.tokens + (ts - b.ts) * rate / 1000)
  }
  const granted = Math.max(0, Math.min(want, Math.floor(tokens + EPSILON)))
  tokens = Math.max(0, tokens - granted)
  const retryAfterMs = granted < want ? Math.ceil((1 - tokens) * 1000 / rate) : 0
  const ttlMs = Math.ceil((burst - tokens) * 1000 / rate) + BUCKET_TTL_SLACK_MS
  return { bucket: { tokens, ts }, result: { granted, tokens, retryAfterMs }, ttlMs }
}

/**
 * The same as takeFromBucket, in Redis Lua. KEYS[1]: the bucket hash {t, ts}. ARGV: rate, burst, want, now.
 * Returns { granted, tokens (as a %.17g string: Lua numbers become integers in a reply), retryAfterMs }.
 */
export const TAKE_TOKENS_LUA = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local tokens = burst
local ts = now
local s = redis.call('HMGET', KEYS[1], 't', 'ts')
if s[1] and s[2] then
  local t0 = tonumber(s[1])
  local ts0 = tonumber(s[2])
  ts = math.max(ts0, now)
  tokens = math.min(burst, t0 + (ts - ts0) * rate / 1000)
end
local granted = math.max(0, math.min(want, math.floor(tokens + 1e-9)))
tokens = math.max(0, tokens - granted)
local retry = 0
if granted < want then retry = math.ceil((1 - tokens) * 1000 / rate) end
local ttl = math.ceil((burst - tokens) * 1000 / rate) + ${BUCKET_TTL_SLACK_MS}
local ft = string.format('%.17g', tokens)
redis.call('HSET', KEYS[1], 't', ft, 'ts', string.format('%.17g', ts))
redis.call('PEXPIRE', KEYS[1], ttl)
return { granted, ft, retry }
`

/** Fixed-window counter: INCRBY, and a TTL only when the key has none (it was just created). */
export const INCR_WINDOW_LUA = `
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
`

/**
 * Expiring set as a sorted set scored by expiry. KEYS[1]: the set. ARGV: member, expiresAt, now (ms, caller's
 * clock). Drops expired members, keeps the later expiry of a member, and lets the key expire with its last member
 * (relative to the caller's clock, plus the same slack as buckets, since the server's clock may differ).
 */
export const ADD_EXPIRING_LUA = `
local exp = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not cur) or tonumber(cur) < exp then redis.call('ZADD', KEYS[1], exp, ARGV[1]) end
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] then
  local ttl = math.ceil(tonumber(top[2]) - now) + ${BUCKET_TTL_SLACK_MS}
  if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
end
return 1
`

/** Compare-and-delete: KEYS[1] is deleted only if it holds ARGV[1] (a lock's token). Returns 1 if deleted. */
export const DEL_IF_EQUALS_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`
