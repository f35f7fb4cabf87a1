// The buffers request bodies (and the node engine's response chunks) travel in: every copy holds exactly the engine's bytes, large chunks come from size
// classes and are reused once given back, small and oversized ones are plain copies, a chunk is taken back once only,
// and an idle pool keeps a bounded number of buffers.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { copyChunk, copyView, releaseChunk, releaseOnWrite, pooledFree } from '../../../src/net/index.ts'

const KB = 1024

function bytes (n: number, seed: number): ArrayBuffer {
  const u = new Uint8Array(n)
  for (let i = 0; i < n; i++) u[i] = (i * 31 + seed) & 0xff
  return u.buffer
}

test('a copy holds the same bytes and is independent of the source', () => {
  for (const n of [1, 100, 16 * KB - 1, 16 * KB, 16 * KB + 1, 65_483, 512 * KB, 512 * KB + 1]) {
    const src = bytes(n, n)
    const c = copyChunk(src)
    assert.equal(c.length, n)
    assert.deepEqual(c, Buffer.from(src))
    new Uint8Array(src).fill(0) // the engine reuses its memory after the callback
    assert.deepEqual(c, Buffer.from(bytes(n, n)))
    releaseChunk(c)
  }
})

test('a large chunk given back is reused for the next chunk of its class, with the new bytes', () => {
  const a = copyChunk(bytes(300 * KB, 1))
  const under = a.buffer
  assert.equal(under.byteLength, 512 * KB) // the smallest class that fits
  releaseChunk(a)
  const b = copyChunk(bytes(400 * KB, 2))
  assert.equal(b.buffer, under)
  assert.equal(b.length, 400 * KB)
  assert.deepEqual(b, Buffer.from(bytes(400 * KB, 2)))
  // Another chunk while b is still lent gets a buffer of its own.
  const c = copyChunk(bytes(400 * KB, 3))
  assert.notEqual(c.buffer, under)
  releaseChunk(b)
  releaseChunk(c)
})

test('a chunk is taken back once: a second release cannot hand one buffer to two chunks', () => {
  const a = copyChunk(bytes(64 * KB, 4))
  releaseChunk(a)
  releaseChunk(a)
  const b = copyChunk(bytes(64 * KB, 5))
  const c = copyChunk(bytes(64 * KB, 6))
  assert.notEqual(b.buffer, c.buffer)
  assert.deepEqual(b, Buffer.from(bytes(64 * KB, 5)))
  releaseChunk(b)
  releaseChunk(c)
})

test('small and oversized chunks are plain copies; buffers from elsewhere are ignored', () => {
  const before = pooledFree()
  releaseChunk(copyChunk(bytes(100, 7)))
  releaseChunk(copyChunk(bytes(600 * KB, 8)))
  releaseChunk(Buffer.alloc(64 * KB))
  releaseChunk(Buffer.from(new ArrayBuffer(64 * KB)))
  assert.deepEqual(pooledFree(), before)
})

test('an idle pool keeps at most 2 MiB per class', () => {
  const lent = Array.from({ length: 40 }, (_, i) => copyChunk(bytes(512 * KB, i)))
  assert.equal(new Set(lent.map((c) => c.buffer)).size, 40)
  for (const c of lent) releaseChunk(c)
  assert.equal(pooledFree().at(-1), 4)
  const small = Array.from({ length: 300 }, (_, i) => copyChunk(bytes(16 * KB, i)))
  for (const c of small) releaseChunk(c)
  assert.equal(pooledFree()[0], 128)
})

test('copyView copies exactly the bytes of a view into a larger buffer, pooled when large', () => {
  // The upstream client lends views into its one read buffer, at an offset.
  const backing = new Uint8Array(bytes(256 * KB, 9))
  for (const [off, n] of [[0, 100], [7, 16 * KB], [1000, 64 * KB], [3, 200 * KB]] as const) {
    const view = backing.subarray(off, off + n)
    const c = copyView(view)
    assert.equal(c.length, n)
    assert.deepEqual(c, Buffer.from(backing.slice(off, off + n)))
    assert.equal(c.buffer === backing.buffer, false)
    // Pooled chunks get a write callback that gives them back; small ones get none.
    const done = releaseOnWrite(c)
    assert.equal(done === undefined, n < 16 * KB)
    done?.()
  }
  // A pooled copy given back after its write is what the next copy of its class gets.
  const a = copyView(backing.subarray(5, 5 + 64 * KB))
  const under = a.buffer
  releaseOnWrite(a)!()
  const b = copyView(backing.subarray(9, 9 + 50 * KB))
  assert.equal(b.buffer, under)
  assert.deepEqual(b, Buffer.from(backing.slice(9, 9 + 50 * KB)))
  // After a failed write the socket may still read it: it is left to the garbage collector, not reused.
  releaseOnWrite(b)!(new Error('EPIPE'))
  const c = copyView(backing.subarray(0, 64 * KB))
  assert.notEqual(c.buffer, under)
  releaseChunk(c)
})
