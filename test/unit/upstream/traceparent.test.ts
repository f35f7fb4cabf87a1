// W3C traceparent: which ones are kept, and the ones started here.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { validTraceparent, createTraceStarter } from '../../../src/upstream/index.ts'

const cases = [
  { name: 'the spec\'s example', input: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', expected: true },
  { name: 'not sampled', input: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00', expected: true },
  { name: 'a later version with more fields', input: '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz', expected: true },
  { name: 'version 00 with more fields', input: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz', expected: false },
  { name: 'version ff', input: 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', expected: false },
  { name: 'all-zero trace id', input: '00-00000000000000000000000000000000-00f067aa0ba902b7-01', expected: false },
  { name: 'all-zero parent id', input: '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', expected: false },
  { name: 'upper case', input: '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', expected: false },
  { name: 'short trace id', input: '00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01', expected: false },
  { name: 'empty (two headers)', input: '', expected: false }
]
for (const c of cases) test(`traceparent: ${c.name}`, () => { assert.equal(validTraceparent(c.input), c.expected) })

test('started traceparents are valid, sampled and all different, across pool refills', () => {
  const start = createTraceStarter()
  const seen = new Set<string>()
  for (let i = 0; i < 500; i++) {
    const s = start()
    assert.ok(validTraceparent(s), s)
    assert.match(s, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
    seen.add(s)
  }
  assert.equal(seen.size, 500)
})

test('a started traceparent is its draw\'s random bytes in hex: 16 for the trace id, 8 for the parent id', () => {
  let draws = 0
  // Byte k of draw d is (k * 7 + d) & 0xff: every byte value, at known places.
  const start = createTraceStarter((buf) => { for (let k = 0; k < buf.length; k++) buf[k] = (k * 7 + draws) & 0xff; draws++ })
  for (let i = 0; i < 400; i++) {
    const draw = Math.floor(i / 170)
    const bytes = Buffer.from(Array.from({ length: 24 }, (_, k) => ((i % 170) * 24 + k) * 7 + draw))
    assert.equal(start(), `00-${bytes.toString('hex', 0, 16)}-${bytes.toString('hex', 16, 24)}-01`, `traceparent ${i}`)
  }
  assert.equal(draws, 3)
})

test('all-zero random bytes give the ids …0001, not the invalid all-zero ones', () => {
  const start = createTraceStarter((buf) => { buf.fill(0) })
  const s = start()
  assert.equal(s, `00-${'1'.padStart(32, '0')}-${'1'.padStart(16, '0')}-01`)
  assert.ok(validTraceparent(s))
})
