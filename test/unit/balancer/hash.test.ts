// Consistent hashing: sticky per key, even spread, minimal movement on removal, weights and failover.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, hashString } from '../../../src/balancer/hash.ts'
import { createStrategy, type PickContext, type Target } from '../../../src/balancer/index.ts'
import { balancerContract } from './contract.ts'
import { countPicks, ipCtx, makeCtx, makeTargets, mulberry32 } from './helpers.ts'

balancerContract('hash', (targets) => createHash(targets, { by: 'ip' }))

const KEYS = 10_000

/** Which target (by url) each of the first `n` client IPs lands on. */
function owners (targets: readonly Target[], n = KEYS, exclude?: ReadonlySet<Target>): string[] {
  const s = createHash(targets, { by: 'ip' })
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(s.pick(ipCtx(i), exclude)?.url ?? 'none')
  return out
}

test('hashString is FNV-1a based, stable and spreads near keys apart', () => {
  assert.equal(hashString('10.0.0.1'), hashString('10.0.0.1'))
  assert.notEqual(hashString('10.0.0.1'), hashString('10.0.0.2'))
  // Keys differing only in the last character must not cluster in the top bits (ring order).
  const tops = new Set<number>()
  for (let i = 0; i < 256; i++) tops.add(hashString(`10.0.0.${i}`) >>> 28)
  assert.equal(tops.size, 16)
})

test('the same key goes to the same target on every call', () => {
  const targets = makeTargets([1, 1, 1, 1, 1])
  const s = createHash(targets, { by: 'ip' })
  for (let k = 0; k < 50; k++) {
    const ctx = ipCtx(k * 7919)
    const first = s.pick(ctx)
    for (let i = 0; i < 200; i++) assert.equal(s.pick(ctx), first)
  }
  // And a strategy built again over the same servers agrees.
  const again = createHash(makeTargets([1, 1, 1, 1, 1]), { by: 'ip' })
  for (let k = 0; k < 500; k++) assert.equal(again.pick(ipCtx(k))?.url, s.pick(ipCtx(k))?.url)
})

test('10,000 keys over 3 equal servers land within ±20% of even', () => {
  const counts = countPicks(createHash(makeTargets([1, 1, 1]), { by: 'ip' }), KEYS)
  assert.equal(counts.size, 3)
  for (const [index, c] of counts) assert.ok(Math.abs(c - KEYS / 3) <= 0.2 * KEYS / 3, `server ${index}: ${c}`)
})

test('removing one of 4 servers moves only its keys, about a quarter of them', () => {
  const four = makeTargets([1, 1, 1, 1])
  const before = owners(four)
  const removed = four[2]!.url
  const after = owners(four.filter((t) => t.url !== removed))
  let moved = 0
  for (let i = 0; i < KEYS; i++) {
    if (before[i] === removed) {
      moved++
      assert.notEqual(after[i], removed)
    } else {
      assert.equal(after[i], before[i], `key ${i} moved from ${before[i]} though its server stayed`)
    }
  }
  assert.ok(moved > 0.15 * KEYS && moved < 0.35 * KEYS, `${moved} of ${KEYS} keys moved`)
})

test('adding a server takes keys only from the others, about 1/N', () => {
  const four = makeTargets([1, 1, 1, 1])
  const before = owners(four.slice(0, 3))
  const after = owners(four)
  let moved = 0
  for (let i = 0; i < KEYS; i++) {
    if (after[i] !== before[i]) {
      moved++
      assert.equal(after[i], four[3]!.url)
    }
  }
  assert.ok(moved > 0.15 * KEYS && moved < 0.35 * KEYS, `${moved} of ${KEYS} keys moved`)
})

test('weight 2 gets about twice the keys of weight 1', () => {
  const counts = countPicks(createHash(makeTargets([2, 1, 1]), { by: 'ip' }), KEYS)
  const heavy = counts.get(0) ?? 0
  for (const light of [counts.get(1) ?? 0, counts.get(2) ?? 0]) {
    assert.ok(heavy / light > 1.6 && heavy / light < 2.4, `heavy ${heavy} vs light ${light}`)
  }
})

test('an unhealthy or excluded owner fails over exactly as if it were removed', () => {
  const targets = makeTargets([1, 2, 1, 1])
  const without = owners(targets.filter((t) => t.index !== 1), 3000)
  const normal = owners(targets, 3000)
  const excluded = owners(targets, 3000, new Set([targets[1]!]))
  targets[1]!.healthy = false
  const unhealthy = owners(targets, 3000)
  assert.deepEqual(unhealthy, without)
  assert.deepEqual(excluded, without)
  assert.ok(normal.some((u) => u === targets[1]!.url))
  // Back to healthy: every key returns to its original server.
  targets[1]!.healthy = true
  assert.deepEqual(owners(targets, 3000), normal)
})

test('failover walks past several ineligible servers to the next eligible one', () => {
  const targets = makeTargets([1, 1, 1, 1, 1])
  const expected = owners(targets.filter((t) => t.index === 0 || t.index === 3), 2000)
  targets[1]!.healthy = false
  targets[4]!.healthy = false
  assert.deepEqual(owners(targets, 2000, new Set([targets[2]!])), expected)
})

test('header:NAME keys by the lower-cased header and falls back to the client IP', () => {
  const targets = makeTargets([1, 1, 1, 1])
  const asked: string[] = []
  const byHeader = createHash(targets, { by: 'header:X-User' })
  const byIp = createHash(targets, { by: 'ip' })
  const ctx = (ip: string, user?: string): PickContext => ({
    clientIp: ip,
    header: (name) => { asked.push(name); return name === 'x-user' ? user : undefined },
    cookie: () => undefined
  })
  // The same user from many IPs sticks to one server, and it's the one its key hashes to.
  const u = byHeader.pick(ctx('198.51.100.1', 'alice'))
  for (let i = 0; i < 100; i++) assert.equal(byHeader.pick(ctx(`198.51.100.${i}`, 'alice')), u)
  assert.equal(u, byIp.pick(makeCtx({ ip: 'alice' })))
  assert.ok(asked.every((n) => n === 'x-user'))
  // Users spread over the servers.
  const users = new Set<Target | undefined>()
  for (let i = 0; i < 200; i++) users.add(byHeader.pick(ctx('198.51.100.1', `user${i}`)))
  assert.equal(users.size, 4)
  // Missing or empty header: same server as hashing the IP.
  for (let i = 0; i < 200; i++) {
    const ip = `203.0.113.${i}`
    assert.equal(byHeader.pick(ctx(ip)), byIp.pick(makeCtx({ ip })))
    assert.equal(byHeader.pick(ctx(ip, '')), byIp.pick(makeCtx({ ip })))
  }
})

test('cookie:NAME keys by the cookie (case kept) and falls back to the client IP', () => {
  const targets = makeTargets([1, 1, 1])
  const byCookie = createStrategy('hash', targets, { random: mulberry32(1), hashBy: 'cookie:SID' })
  const byIp = createHash(targets, { by: 'ip' })
  for (let i = 0; i < 200; i++) {
    const sid = `session-${i}`
    const expected = byIp.pick(makeCtx({ ip: sid }))
    assert.equal(byCookie.pick(makeCtx({ ip: `198.51.100.${i}`, cookies: { SID: sid } })), expected)
    assert.equal(byCookie.pick(makeCtx({ ip: sid, cookies: { sid: 'other' } })), expected)
  }
})

test('rejects a malformed by', () => {
  for (const by of ['', 'header', 'header:', 'cookie:', 'query:x', 'IP']) {
    assert.throws(() => createHash(makeTargets([1]), { by }), TypeError, by)
  }
})
