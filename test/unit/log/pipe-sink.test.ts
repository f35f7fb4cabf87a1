// Log pieces to a pipe: one write(2) each while the reader keeps up; while it is behind, pieces wait in order up to
// a limit, the rest are dropped, and a warning line says how many once it has caught up; a pipe nobody reads any
// more drops everything without failing the worker.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PipeSink } from '../../../src/log/pipe-sink.ts'

/** A FIFO with a non-blocking writer end and a non-blocking reader end, both in this process. */
function fifo (t: { after: (fn: () => void) => void }): { writer: number, reader: number, path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'swy-pipe-'))
  const path = join(dir, 'fifo')
  execFileSync('mkfifo', [path])
  const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
  const writer = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK)
  t.after(() => { for (const fd of [writer, reader]) try { closeSync(fd) } catch {} rmSync(dir, { recursive: true, force: true }) })
  return { writer, reader, path }
}

/** Reads what the pipe holds now ('' when empty). */
function readNow (fd: number): string {
  const buf = Buffer.alloc(1 << 16)
  let text = ''
  for (;;) {
    let n = 0
    try { n = readSync(fd, buf, 0, buf.length, null) } catch (err) { if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return text; throw err }
    if (n === 0) return text
    text += buf.toString('utf8', 0, n)
  }
}

/** A piece of whole lines, numbered from `first`, of about 4 KiB. */
function piece (first: number): { bytes: Buffer, lines: number } {
  const lines = Array.from({ length: 10 }, (_, i) => `{"n":${first + i},"pad":"${'x'.repeat(380)}"}\n`)
  return { bytes: Buffer.from(lines.join('')), lines: lines.length }
}

test('while the reader is behind, pieces wait in order up to the limit, the rest are dropped, and a line says how many', async (t) => {
  const { writer, reader } = fifo(t)
  let done = 0
  const limit = 32 * 1024
  const sink = new PipeSink(writer, { limit, onDone: (n) => { done += n } })
  let given = 0
  let lines = 0
  // The pipe holds 64 KiB; nothing reads: write well past that and the limit.
  for (let i = 0; i < 60; i++) {
    const p = piece(lines)
    sink.write(p.bytes)
    given += p.bytes.length
    lines += p.lines
  }
  assert.ok(sink.queued > 0 && sink.queued <= limit, `${sink.queued} bytes wait`)
  assert.ok(sink.dropped > 0, 'lines past the limit are dropped')
  assert.equal(done, given - sink.queued, 'every piece written or dropped is reported done, none that waits')
  // The reader catches up; the sink's timer writes what waited, then the warning.
  let text = ''
  for (let i = 0; i < 200 && !text.includes('"dropped"'); i++) {
    text += readNow(reader)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  text += readNow(reader)
  assert.equal(done, given, 'every piece is done once the reader caught up')
  const got = text.split('\n')
  assert.equal(got.pop(), '', 'ends with a whole line')
  const warning = JSON.parse(got.pop()!) as { level: number, dropped: number, msg: string }
  assert.equal(warning.level, 40)
  const numbers = got.map((l) => (JSON.parse(l) as { n: number }).n)
  assert.deepEqual(numbers, [...numbers].sort((a, b) => a - b), 'lines keep their order')
  assert.equal(new Set(numbers).size, numbers.length)
  assert.equal(warning.dropped, lines - numbers.length, 'the warning counts every line that did not arrive')
  // Kept: what the pipe held, then what waited; dropped: a run of whole pieces after them.
  assert.ok(numbers.length * 400 >= 64 * 1024 + limit - 8 * 1024, `${numbers.length} lines arrived`)
  // Caught up, the next piece goes straight through.
  sink.write(piece(10_000).bytes)
  assert.equal(sink.queued, 0)
  assert.match(readNow(reader), /^\{"n":10000,/)
})

test('a pipe nobody reads any more (EPIPE) drops every piece and never throws', (t) => {
  const { writer, reader } = fifo(t)
  closeSync(reader)
  let done = 0
  const sink = new PipeSink(writer, { limit: 1 << 20, onDone: (n) => { done += n } })
  let given = 0
  for (let i = 0; i < 5; i++) {
    const p = piece(i * 10).bytes
    sink.write(p)
    given += p.length
  }
  assert.equal(done, given)
  assert.equal(sink.queued, 0)
  assert.equal(sink.dropped, 50)
  sink.flushSync()
})

test('a reader that was stalled and reads again is written to within a millisecond of each try that wrote something', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const { writer, reader } = fifo(t)
  const sink = new PipeSink(writer, { limit: 1 << 20 })
  for (let i = 0; i < 100; i++) sink.write(piece(i * 10).bytes) // ~400 KB against a 64 KiB pipe
  const waiting = sink.queued
  assert.ok(waiting > 0)
  // Stalled: the tries back off (1, 2, 4 … 64 ms apart) and write nothing.
  t.mock.timers.tick(1000)
  assert.equal(sink.queued, waiting)
  // The reader empties the pipe; the next try, within the longest wait, fills it again...
  readNow(reader)
  t.mock.timers.tick(64)
  const after = sink.queued
  assert.ok(after < waiting, 'a try wrote')
  // ...and having written, the sink tries again 1 ms later, not after the 64 ms it had backed off to.
  readNow(reader)
  t.mock.timers.tick(1)
  assert.ok(sink.queued < after, 'tried again 1 ms later')
})
