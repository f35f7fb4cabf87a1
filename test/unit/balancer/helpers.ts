// Fixtures shared by the balancer tests: targets, request contexts, a seeded PRNG, pick counting.
// Not a test file itself; the strategy tests import it.
import type { PickContext, Random, Strategy, Target } from '../../../src/balancer/index.ts'

/** One target per weight, at http://10.0.0.<i+1>:8080, idle and healthy. */
export function makeTargets (weights: readonly number[]): Target[] {
  return weights.map((weight, index) => ({ index, url: `http://10.0.0.${index + 1}:8080`, weight, inflight: 0, healthy: true }))
}

export interface CtxInput {
  readonly ip?: string
  readonly headers?: Readonly<Record<string, string>>
  readonly cookies?: Readonly<Record<string, string>>
}

/** A PickContext over plain records; header names are expected lower-case, as the listener provides them. */
export function makeCtx ({ ip = '192.0.2.1', headers = {}, cookies = {} }: CtxInput = {}): PickContext {
  return {
    clientIp: ip,
    header: (name) => headers[name],
    cookie: (name) => cookies[name]
  }
}

/** The i-th of a family of distinct client IPs. */
export function ipCtx (i: number): PickContext {
  return makeCtx({ ip: `198.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}` })
}

/** mulberry32: a small seeded PRNG in [0, 1), so randomised strategies give the same sequence every run. */
export function mulberry32 (seed: number): Random {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Picks `n` times (context `ctxAt(i)`) and counts picks per target index; -1 counts undefined. */
export function countPicks (s: Strategy, n: number, ctxAt: (i: number) => PickContext = ipCtx, exclude?: ReadonlySet<Target>): Map<number, number> {
  const counts = new Map<number, number>()
  for (let i = 0; i < n; i++) {
    const t = s.pick(ctxAt(i), exclude)
    const k = t === undefined ? -1 : t.index
    counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  return counts
}

/** The picked indexes, in order. */
export function sequence (s: Strategy, n: number, ctxAt: (i: number) => PickContext = ipCtx): Array<number | undefined> {
  const out: Array<number | undefined> = []
  for (let i = 0; i < n; i++) out.push(s.pick(ctxAt(i))?.index)
  return out
}
