// The rate-limit stage: picks the key, asks the limiter, and answers 429 with Retry-After and the IETF httpapi
// RateLimit-Policy / RateLimit headers (draft-ietf-httpapi-ratelimit-headers-07) when the key is over its limit.
import { NEXT, type Exchange, type Stage, type Verdict } from '../pipeline/index.ts'
import { ADMIT, type Decision, type Limiter, type RateRule } from './limiter.ts'

export interface RateLimitOptions {
  readonly rule: RateRule
  /** `ip`, `route`, `header:NAME` (NAME lower-case) or `cookie:NAME`. A missing header or cookie keys on the client IP. */
  readonly key: string
  readonly limiter: Limiter
  /** Told the limiter key of each refused request (the ban counter), when the rule has a ban. */
  readonly onReject?: (key: string) => void
}

/** How a request's limiter key is read; chosen once per route. */
export function keyReader (key: string): (ex: Exchange) => string {
  if (key === 'route') return () => ''
  if (key.startsWith('header:')) {
    const name = key.slice(7).toLowerCase()
    return (ex) => { const v = ex.header(name); return v === undefined ? `ip:${ex.clientIp}` : `h:${v}` }
  }
  if (key.startsWith('cookie:')) {
    const name = key.slice(7)
    return (ex) => { const v = ex.cookie(name); return v === undefined ? `ip:${ex.clientIp}` : `c:${v}` }
  }
  // The address itself: no string is built per request for the default key.
  return (ex) => ex.clientIp
}

/**
 * Who a limiter key names, for bans: `[kind, value]` with kind `ip`, `header:NAME` or `cookie:NAME`. A header or
 * cookie key whose request lacked it counted against the address, so that is what gets banned. Undefined for `route`.
 */
export function banSubject (ruleKey: string): ((key: string) => [string, string]) | undefined {
  if (ruleKey === 'route') return undefined
  if (ruleKey === 'ip') return (k) => ['ip', k]
  // keyReader's prefixes: h: (header value), c: (cookie value), ip: (the fallback address).
  return (k) => k.startsWith('ip:') ? ['ip', k.slice(3)] : [ruleKey, k.slice(2)]
}

export function createRateLimit ({ rule, key, limiter, onReject }: RateLimitOptions): Stage {
  const read = keyReader(key)
  // Fixed parts built once; a refusal only fills in the seconds.
  const policy = `${rule.count};w=${rule.windowSec}`
  const limitHead = `limit=${rule.count}, remaining=0, reset=`

  const refuse = (ex: Exchange, retryMs: number): Verdict => {
    const s = String(Math.max(1, Math.ceil(retryMs / 1000)))
    return ex.reject('SWY_RATE_LIMITED', false, ['retry-after', s, 'ratelimit-policy', policy, 'ratelimit', limitHead + s])
  }
  const settle = (ex: Exchange, d: Decision): Verdict => d === ADMIT ? NEXT : refuse(ex, d)

  if (onReject === undefined) {
    return {
      name: 'ratelimit',
      run (ex) {
        const d = limiter.take(read(ex))
        if (d === ADMIT) return NEXT
        if (typeof d === 'number') return refuse(ex, d)
        return d.then((v) => settle(ex, v))
      }
    }
  }
  // With a ban rule: the same, and each refusal is counted for the key.
  const counted = (ex: Exchange, k: string, d: Decision): Verdict => {
    if (d === ADMIT) return NEXT
    onReject(k)
    return refuse(ex, d)
  }
  return {
    name: 'ratelimit',
    run (ex) {
      const k = read(ex)
      const d = limiter.take(k)
      if (d === ADMIT) return NEXT
      if (typeof d === 'number') return counted(ex, k, d)
      return d.then((v) => counted(ex, k, v))
    }
  }
}
