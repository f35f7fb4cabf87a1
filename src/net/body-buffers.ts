// Where request body chunks live between the client's socket and the backend's (and, on the node engine, response
// chunks between the backend's socket and the client's). The engine lends each chunk only for its callback (uWS
// detaches it), so every one is copied; a fresh allocation per chunk made a 200 MiB upload leave ~70 MB of garbage
// behind on Node 24 before V8 collected it (external memory is only counted towards a GC after 64 MiB). Large chunks
// are copied into buffers that come back here once the upstream socket has written them, so a long upload reuses the
// same few buffers (test/unit/net/body-buffers.test.ts; test/integration/streaming.test.ts).

import { Buffer } from 'node:buffer'

/** Chunks smaller than this are copied as they are: small bodies would not repay a pooled buffer, and hold less. */
const POOLED_MIN = 16 * 1024
/** The largest class; uWS reads at most 512 KiB at a time, so its chunks never exceed it. Larger ones are copied. */
const POOLED_MAX = 512 * 1024
/** Free buffers kept per size class, in bytes: what an idle worker holds at most, 16 KiB to 512 KiB in six classes. */
const KEEP_PER_CLASS = 2 * 1024 * 1024

/** Size classes 16 KiB, 32 KiB … 512 KiB: a chunk takes the smallest that fits, so it wastes less than half. */
const CLASSES: number[] = []
for (let size = POOLED_MIN; size <= POOLED_MAX; size *= 2) CLASSES.push(size)

const free: ArrayBuffer[][] = CLASSES.map(() => [])
/** The buffers this pool handed out and has not had back: a chunk is returned once, and only if it came from here. */
const lent = new WeakSet<ArrayBuffer>()

function classOf (size: number): number {
  let i = 0
  while (CLASSES[i]! < size) i++
  return i
}

/** A copy of `src` that the caller owns until it gives it back with releaseChunk (or drops it). */
export function copyChunk (src: ArrayBuffer): Buffer {
  return copyView(new Uint8Array(src))
}

/**
 * A copy of the bytes `src` shows (a view the caller only lends, as the upstream client's read buffer), pooled as in
 * copyChunk: the node engine's answers copy each response chunk before node:http or node:http2 queue it, and a fresh
 * allocation per 64 KiB chunk made Node 24 run a mark-compact per 1,000 answers of 64 KiB (6 per 50,000 pooled).
 */
export function copyView (src: Uint8Array): Buffer {
  const n = src.byteLength
  if (n < POOLED_MIN || n > POOLED_MAX) return Buffer.from(src)
  const c = classOf(n)
  const ab = free[c]!.pop() ?? new ArrayBuffer(CLASSES[c]!)
  lent.add(ab)
  const out = Buffer.from(ab, 0, n)
  out.set(src)
  return out
}

/**
 * Gives a chunk made by copyChunk back once nothing reads it any more: the upstream socket has written it (its write
 * callback ran) and nothing else holds it. Any other buffer, or one given back already, is ignored.
 */
export function releaseChunk (chunk: Uint8Array): void {
  const ab = chunk.buffer
  if (!(ab instanceof ArrayBuffer) || !lent.delete(ab)) return
  const list = free[classOf(ab.byteLength)]!
  if ((list.length + 1) * ab.byteLength <= KEEP_PER_CLASS) list.push(ab)
}

/**
 * The socket write callback for a request body chunk: once the socket has handed a pooled chunk to the kernel, it
 * goes back to its pool; after a failed write it is left to the garbage collector (the socket may still have been
 * reading it). Undefined for a chunk that is not pooled, so small bodies pay for no callback.
 */
export function releaseOnWrite (chunk: Uint8Array): ((err?: Error | null) => void) | undefined {
  if (!(chunk.buffer instanceof ArrayBuffer) || !lent.has(chunk.buffer)) return undefined
  return (err) => { if (err == null) releaseChunk(chunk) }
}

/** Free buffers held per class, smallest first (for the tests). */
export function pooledFree (): number[] {
  return free.map((l) => l.length)
}
