// The memory LRU: byte bound, LRU order, expiry on an injected clock, removal by url, prefix and tag, Vary records.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createMemoryCache, entryBytes } from '../../../src/cache/store/memory.ts'
import { entry } from './store-fixtures.ts'

test('entryBytes counts the body and the strings, so a bigger body or more headers cost more', () => {
  const small = entryBytes('k', entry('h/a'))
  assert.ok(small > 100, 'at least the body')
  assert.equal(entryBytes('k', entry('h/a', { body: new Uint8Array(1100) })), small + 1000)
  assert.ok(entryBytes('k', entry('h/a', { headers: ['x-long', 'v'.repeat(500)] })) > small)
})

test('stays within the byte bound by evicting the least recently used entries', () => {
  const one = entryBytes('k0', entry('h/0'))
  const m = createMemoryCache({ maxBytes: one * 3, now: () => 0 })
  for (let i = 0; i < 3; i++) assert.ok(m.put(`k${i}`, entry(`h/${i}`), 1000))
  assert.equal(m.size, 3)
  assert.equal(m.bytes, one * 3)
  // k0 becomes the most recently used, so k1 is the one to go.
  assert.ok(m.get('k0') !== undefined)
  m.put('k3', entry('h/3'), 1000)
  assert.equal(m.size, 3)
  assert.ok(m.bytes <= one * 3)
  assert.equal(m.get('k1'), undefined)
  assert.ok(m.get('k0') !== undefined)
  assert.ok(m.get('k2') !== undefined)
  assert.ok(m.get('k3') !== undefined)
  // A big entry evicts as many as it needs.
  const big = entry('h/big', { body: new Uint8Array(one * 2) })
  assert.ok(entryBytes('kb', big) <= one * 3)
  assert.ok(m.put('kb', big, 1000))
  assert.ok(m.bytes <= one * 3)
  assert.equal(m.size, 1)
  assert.ok(m.get('kb') !== undefined)
})

test('hits between two inserts all count: the least recently used of them goes first', () => {
  const one = entryBytes('k0', entry('h/0'))
  const m = createMemoryCache({ maxBytes: one * 3, now: () => 0 })
  for (let i = 0; i < 3; i++) assert.ok(m.put(`k${i}`, entry(`h/${i}`), 1000))
  // k1 then k0 are used (k0 twice): k2 is now the least recently used.
  assert.ok(m.get('k1') !== undefined)
  assert.ok(m.get('k0') !== undefined)
  assert.ok(m.get('k0') !== undefined)
  m.put('k3', entry('h/3'), 1000)
  assert.equal(m.get('k2'), undefined)
  // Then k1 is the oldest use.
  assert.ok(m.get('k0') !== undefined)
  m.put('k4', entry('h/4'), 1000)
  assert.equal(m.get('k1'), undefined)
  assert.ok(m.get('k0') !== undefined)
  assert.ok(m.get('k3') !== undefined)
  assert.ok(m.get('k4') !== undefined)
})

test('an entry larger than the whole bound is not kept and evicts nothing', () => {
  const m = createMemoryCache({ maxBytes: 10_000, now: () => 0 })
  m.put('a', entry('h/a'), 1000)
  assert.equal(m.put('huge', entry('h/huge', { body: new Uint8Array(20_000) }), 1000), false)
  assert.equal(m.get('huge'), undefined)
  assert.ok(m.get('a') !== undefined)
})

test('replacing a key frees the old entry\'s bytes and index entries', () => {
  const m = createMemoryCache({ maxBytes: 1_000_000, now: () => 0 })
  m.put('k', entry('h/old', { tags: ['t1'] }), 1000)
  const before = m.bytes
  m.put('k', entry('h/new', { tags: ['t2'] }), 1000)
  assert.equal(m.size, 1)
  assert.equal(m.bytes, before)
  assert.equal(m.removeUrl('h/old'), 0)
  assert.equal(m.removeTag('t1'), 0)
  assert.equal(m.removeTag('t2'), 1)
  assert.equal(m.bytes, 0)
})

test('entries expire at expiresAt on the injected clock', () => {
  let now = 1000
  const m = createMemoryCache({ maxBytes: 1_000_000, now: () => now })
  m.put('a', entry('h/a'), 1100)
  m.put('b', entry('h/b'), 2000)
  assert.equal(m.put('past', entry('h/p'), 1000), false, 'already expired: not stored')
  now = 1099
  assert.ok(m.get('a') !== undefined)
  assert.equal(m.expiresAt('a'), 1100)
  now = 1100
  assert.equal(m.get('a'), undefined)
  assert.equal(m.size, 1, 'the expired entry was dropped on read')
  assert.ok(m.get('b') !== undefined)
})

test('removal by url, by url prefix and by tag drops exactly the matching entries', () => {
  const m = createMemoryCache({ maxBytes: 1_000_000, now: () => 0 })
  m.put('a1', entry('h/a', { tags: ['red'] }), 1000)
  m.put('a2', entry('h/a', { tags: ['blue'] }), 1000) // a second variant of one url
  m.put('ab', entry('h/ab', { tags: ['red', 'green'] }), 1000)
  m.put('b', entry('h/b', { tags: ['green'] }), 1000)
  m.put('x', entry('x/a'), 1000)
  assert.equal(m.removeUrl('h/a'), 2)
  assert.equal(m.get('a1'), undefined)
  assert.equal(m.get('a2'), undefined)
  assert.ok(m.get('ab') !== undefined, 'another url that merely starts with it stays')
  assert.equal(m.removeTag('green'), 2)
  assert.equal(m.get('ab'), undefined)
  assert.equal(m.get('b'), undefined)
  assert.equal(m.removeTag('red'), 0, 'the red entries went with their url and tag')
  m.put('p1', entry('h/p/1'), 1000)
  m.put('p2', entry('h/p/2?q=1'), 1000)
  m.put('q', entry('h/q'), 1000)
  assert.equal(m.removePrefix('h/p/'), 2)
  assert.equal(m.size, 2)
  assert.ok(m.get('q') !== undefined)
  assert.ok(m.get('x') !== undefined)
  assert.equal(m.removePrefix(''), 2, 'the empty prefix matches everything')
  assert.equal(m.bytes, 0)
})

test('Vary records: kept until their expiry, bounded in number (oldest first)', () => {
  let now = 0
  const m = createMemoryCache({ maxBytes: 1000, now: () => now, maxVary: 2 })
  m.setVary('p1', ['accept-encoding'], 100)
  m.setVary('p2', ['accept-language', 'cookie'], 100)
  assert.deepEqual(m.getVary('p1'), ['accept-encoding'])
  m.setVary('p3', [], 100)
  assert.equal(m.getVary('p1'), undefined, 'the oldest went')
  assert.deepEqual(m.getVary('p2'), ['accept-language', 'cookie'])
  assert.deepEqual(m.getVary('p3'), [])
  now = 100
  assert.equal(m.getVary('p2'), undefined)
})
