// Test doubles for the limiters: a SharedState bucket store on the real arithmetic (token-bucket.ts) that can be
// held, failed and inspected, a hand-moved clock, and a logger that records what it was told.
import { takeFromBucket, StateUnavailableError, type Bucket, type TokenRequest, type TokenResult } from '../../../src/state/index.ts'
import type { Decision, Limiter, LimiterLog } from '../../../src/ratelimit/index.ts'

export class FakeState {
  readonly buckets = new Map<string, Bucket>()
  readonly calls: TokenRequest[] = []
  fail = false
  /** While not null, calls wait here until release(). */
  held: Array<() => void> | null = null

  async takeTokens (key: string, req: TokenRequest): Promise<TokenResult> {
    this.calls.push(req)
    if (this.held !== null) await new Promise<void>((resolve) => { this.held!.push(resolve) })
    if (this.fail) throw new StateUnavailableError('fake state is down')
    const { bucket, result } = takeFromBucket(this.buckets.get(key), req)
    this.buckets.set(key, bucket)
    return result
  }

  release (): void {
    const h = this.held ?? []
    this.held = null
    for (const r of h) r()
  }
}

export class Clock {
  t = 1_000_000
  readonly now = (): number => this.t
  advance (ms: number): void { this.t += ms }
}

export function recordingLog (): LimiterLog & { lines: string[] } {
  const lines: string[] = []
  return { lines, warn: (_o, m) => { lines.push(`warn: ${m}`) }, info: (_o, m) => { lines.push(`info: ${m}`) } }
}

/** One decision, awaited if the limiter had to wait. */
export async function take (l: Limiter, key: string): Promise<Decision> {
  const d = l.take(key)
  return typeof d === 'number' ? d : await d
}

/** How many of `n` sequential takes were admitted. */
export async function admitted (l: Limiter, key: string, n: number): Promise<number> {
  let ok = 0
  for (let i = 0; i < n; i++) if (await take(l, key) === 0) ok++
  return ok
}
