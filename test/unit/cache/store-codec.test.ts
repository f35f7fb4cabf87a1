// The entry envelope: every field round-trips; another format version, a truncated value or garbage reads as a miss.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Packr } from 'msgpackr'
import { createEntryCodec, CACHE_FORMAT_VERSION } from '../../../src/cache/store/codec.ts'
import { entry, plain } from './store-fixtures.ts'

const cases = [
  { name: 'a plain entry', input: entry('h/a') },
  { name: 'every optional field set', input: entry('h/b?x=1', { etag: 'W/"x"', lastModified: 'Tue, 01 Jan 2030 00:00:00 GMT', mustRevalidate: true, noCache: true, tags: ['a', 'b c'], vary: ['accept-encoding'], swrMs: 10, status: 404 }) },
  { name: 'an empty body and no headers', input: entry('h/c', { body: new Uint8Array(0), headers: [], etag: undefined }) },
  { name: 'a 1 MB body with every byte value', input: entry('h/d', { body: Uint8Array.from({ length: 1 << 20 }, (_, i) => i & 255) }) }
]

for (const c of cases) {
  test(`round trip: ${c.name}`, () => {
    const codec = createEntryCodec()
    const bytes = codec.encode(c.input, 123_456)
    assert.equal(bytes[0], CACHE_FORMAT_VERSION)
    const back = codec.decode(bytes)
    assert.ok(back !== undefined)
    assert.equal(back.expiresAt, 123_456)
    assert.deepEqual(plain(back.entry), plain(c.input))
  })
}

test('an encoded value survives the next encode (the packr reuses its buffer)', () => {
  const codec = createEntryCodec()
  const a = codec.encode(entry('h/a'), 1)
  codec.encode(entry('h/zzzzzzzz', { body: new Uint8Array(500).fill(9) }), 2)
  assert.equal(codec.decode(a)?.entry.url, 'h/a')
})

test('another format version, truncation, garbage and a wrong shape read as undefined', () => {
  const codec = createEntryCodec()
  const good = codec.encode(entry('h/a'), 1)
  const other = good.slice()
  other[0] = CACHE_FORMAT_VERSION + 1
  const plainPack = new Packr({ useRecords: false })
  const wrongShape = new Uint8Array([CACHE_FORMAT_VERSION, ...plainPack.pack([1, 2, 3])])
  const wrongTypes = new Uint8Array([CACHE_FORMAT_VERSION, ...plainPack.pack(Array.from({ length: 16 }, () => 'x'))])
  for (const [name, bytes] of [['other version', other], ['truncated', good.subarray(0, good.byteLength - 20)], ['empty', new Uint8Array(0)],
    ['garbage', Uint8Array.from([CACHE_FORMAT_VERSION, 0xc1, 0xff, 0x00])], ['wrong shape', wrongShape], ['wrong types', wrongTypes]] as const) {
    assert.equal(codec.decode(bytes), undefined, name)
  }
})
