// The public factory: every kind builds its strategy, hash keys default to the client IP.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { BALANCE_KINDS, createStrategy, type BalanceKind } from '../../../src/balancer/index.ts'
import { createHash } from '../../../src/balancer/hash.ts'
import { ipCtx, makeTargets, mulberry32 } from './helpers.ts'

test('each kind builds the strategy of that name over the given targets', () => {
  assert.deepEqual([...BALANCE_KINDS], ['round-robin', 'weighted', 'least-conn', 'p2c', 'hash'])
  for (const kind of BALANCE_KINDS) {
    const targets = makeTargets([1, 2])
    const s = createStrategy(kind, targets, { random: mulberry32(1) })
    assert.equal(s.name, kind)
    const t = s.pick(ipCtx(0))
    assert.ok(t === targets[0] || t === targets[1], kind)
  }
})

test('weighted honours weights where round-robin does not', () => {
  const random = mulberry32(1)
  const count = (kind: BalanceKind): number => {
    const s = createStrategy(kind, makeTargets([3, 1]), { random })
    let heavy = 0
    for (let i = 0; i < 400; i++) if (s.pick(ipCtx(i))?.index === 0) heavy++
    return heavy
  }
  assert.equal(count('weighted'), 300)
  assert.equal(count('round-robin'), 200)
})

test('hash keys by client IP unless hashBy says otherwise', () => {
  const targets = makeTargets([1, 1, 1])
  const byDefault = createStrategy('hash', targets, { random: mulberry32(1) })
  const byIp = createHash(targets, { by: 'ip' })
  const byCookie = createStrategy('hash', targets, { random: mulberry32(1), hashBy: 'cookie:sid' })
  const ctx = (i: number) => ({ clientIp: `192.0.2.${i}`, header: () => undefined, cookie: () => 'one-session' })
  const cookieTargets = new Set()
  for (let i = 0; i < 100; i++) {
    assert.equal(byDefault.pick(ctx(i)), byIp.pick(ctx(i)))
    cookieTargets.add(byCookie.pick(ctx(i)))
  }
  assert.equal(cookieTargets.size, 1)
  assert.throws(() => createStrategy('hash', targets, { random: mulberry32(1), hashBy: 'query:x' }), TypeError)
})

test('an unknown kind throws', () => {
  assert.throws(() => createStrategy('random' as BalanceKind, makeTargets([1]), { random: mulberry32(1) }), /unknown balancer kind 'random'/)
})
