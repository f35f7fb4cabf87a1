// The access log's batching: lines logged in one turn of the event loop leave in one write at its end, a write never
// holds more than its cap of whole lines (writes up to PIPE_BUF on a pipe never interleave between workers), and a
// line is never held past the turn after it was logged.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setImmediate as tick } from 'node:timers/promises'
import { execFileSync, spawn } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LineBatch, writesTo } from '../../../src/log/logger.ts'

/** A destination that keeps each piece as it got it, and its text. */
function sink (): { writes: string[], pieces: Buffer[], write (piece: Buffer): void } {
  const writes: string[] = []
  const pieces: Buffer[] = []
  return { writes, pieces, write (piece) { pieces.push(piece); writes.push(piece.toString('utf8')) } }
}

test('lines of one turn go out in one write, at the end of the turn', async () => {
  const out = sink()
  const b = new LineBatch(out, 4096)
  for (let i = 0; i < 10; i++) b.write(`{"n":${i}}\n`)
  assert.equal(out.writes.length, 0, 'nothing written within the turn')
  await tick()
  assert.deepEqual(out.writes, [Array.from({ length: 10 }, (_, i) => `{"n":${i}}\n`).join('')])
  b.write('{"late":1}\n')
  await tick()
  assert.deepEqual(out.writes.at(-1), '{"late":1}\n')
})

test('no write holds more than the cap, counted in bytes, and lines are never split', async () => {
  const out = sink()
  const b = new LineBatch(out, 4096)
  const lines = Array.from({ length: 200 }, (_, i) => `{"i":${i},"t":"${'é'.repeat(i % 50)}${'x'.repeat(100)}"}\n`)
  for (const l of lines) b.write(l)
  await tick()
  assert.ok(out.writes.length > 1)
  for (const w of out.writes) {
    assert.ok(Buffer.byteLength(w) <= 4096, `${Buffer.byteLength(w)} bytes in one write`)
    assert.ok(w.endsWith('\n'))
  }
  assert.equal(out.writes.join(''), lines.join(''))
})

test('lines leave as their UTF-8 bytes, and a piece\'s buffer is its own until the destination reports it written', async () => {
  const out = sink()
  const b = new LineBatch(out, 4096)
  const lines = Array.from({ length: 300 }, (_, i) => `{"i":${i},"t":"${'é日😀'.repeat(i % 40)}${'x'.repeat(60)}"}\n`)
  for (const l of lines.slice(0, 150)) b.write(l)
  await tick()
  const first = out.pieces.map((p) => Buffer.from(p)) // copies of what was handed over
  for (const l of lines.slice(150)) b.write(l)
  await tick()
  assert.ok(first.length > 1 && out.pieces.length > first.length)
  first.forEach((copy, i) => { assert.ok(copy.equals(out.pieces[i]!), `piece ${i} changed after it was written`) })
  assert.ok(Buffer.concat(out.pieces).equals(Buffer.from(lines.join(''), 'utf8')))
  for (const p of out.pieces) assert.ok(p.length <= 4096 && p.at(-1) === 10)
})

test('a piece takes a buffer sized to what comes: a line now and then a small one, a stream of lines full 64 KiB ones', async () => {
  const out = sink()
  const b = new LineBatch(out, 64 * 1024)
  b.write('{"warn":1}\n')
  await tick()
  assert.ok(out.pieces[0]!.buffer.byteLength <= 1024, `${out.pieces[0]!.buffer.byteLength} bytes held for one short line`)
  const lines = Array.from({ length: 3000 }, (_, i) => `{"i":${i},"pad":"${'p'.repeat(90 + (i % 17))}"}\n`)
  for (const l of lines) b.write(l)
  await tick()
  const burst = out.pieces.slice(1)
  assert.ok(burst.length >= 4)
  for (const p of burst) assert.ok(p.length <= 64 * 1024 && p.at(-1) === 10)
  assert.ok(burst.slice(1, -1).every((p) => p.buffer.byteLength === 64 * 1024), 'pieces after the first of a stream start at the cap')
  assert.ok(Buffer.concat(burst).equals(Buffer.from(lines.join(''))))
})

test('a line longer than the cap goes alone', async () => {
  const out = sink()
  const b = new LineBatch(out, 100)
  b.write('a\n')
  b.write(`${'l'.repeat(300)}\n`)
  b.write('b\n')
  await tick()
  assert.deepEqual(out.writes, ['a\n', `${'l'.repeat(300)}\n`, 'b\n'])
})

test('held lines wait for the timer unless a piece fills first; a plain line takes them along at the end of its turn', async () => {
  const out = sink()
  const b = new LineBatch(out, 100, 50)
  b.hold('{"a":1}\n')
  await tick()
  assert.deepEqual(out.writes, [], 'held past the turn')
  const line = `{"p":"${'x'.repeat(40)}"}\n`
  b.hold(line)
  b.hold(line)
  assert.deepEqual(out.writes, [`{"a":1}\n${line}`], 'a full piece goes at once')
  await new Promise((resolve) => setTimeout(resolve, 80))
  assert.deepEqual(out.writes, [`{"a":1}\n${line}`, line], 'the rest within holdMs')
  b.hold('{"h":1}\n')
  b.write('{"w":1}\n')
  await tick()
  assert.deepEqual(out.writes.at(-1), '{"h":1}\n{"w":1}\n', 'a plain line is not held, and order is kept')
})

test('stdout to a regular file is written synchronously in pieces of up to 64 KiB; a pipe in 4 KiB pieces', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'swy-log-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = openSync(join(dir, 'out.log'), 'a')
  t.after(() => { closeSync(file) })
  assert.deepEqual(writesTo(file), { sync: true, max: 64 * 1024 })
  execFileSync('mkfifo', [join(dir, 'fifo')])
  const fifo = openSync(join(dir, 'fifo'), 'r+') // read-write: opens without a reader on the other end
  t.after(() => { closeSync(fifo) })
  assert.deepEqual(writesTo(fifo), { sync: false, max: 4096 })
})

test('processes sharing one log file (as workers share stdout) never interleave their lines, and lose none', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'swy-log-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const path = join(dir, 'out.log')
  const fd = openSync(path, 'w') // one open file, one shared offset: not O_APPEND
  t.after(() => { closeSync(fd) })
  const logger = new URL('../../../src/log/logger.js', import.meta.url).href
  const script = `
    const { createLogger } = await import(${JSON.stringify(logger)})
    const log = createLogger({ level: 'info', pretty: false, base: { p: process.argv[1] }, holdMs: 20 })
    for (let turn = 0; turn < 40; turn++) {
      for (let i = 0; i < 100; i++) log.info({ n: turn * 100 + i, pad: 'x'.repeat(200 + (i * 37) % 400) })
      await new Promise((resolve) => setImmediate(resolve))
    }`
  const run = (name: string): Promise<number | null> => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, name], { stdio: ['ignore', fd, 'inherit'] })
    child.on('error', reject)
    child.on('exit', resolve)
  })
  assert.deepEqual(await Promise.all([run('a'), run('b')]), [0, 0])
  const lines = readFileSync(path, 'utf8').split('\n')
  assert.equal(lines.pop(), '', 'the file ends with a whole line')
  const seen = { a: new Set<number>(), b: new Set<number>() }
  for (const line of lines) {
    const o = JSON.parse(line) as { p: 'a' | 'b', n: number }
    seen[o.p].add(o.n)
  }
  assert.equal(seen.a.size, 4000)
  assert.equal(seen.b.size, 4000)
})

test('a piece\'s buffer takes new lines only once the destination reports every byte of it written', async () => {
  const handed: Buffer[] = []
  const copies: Buffer[] = [] // each piece as it was when handed over
  const b = new LineBatch({ write (piece: Buffer) { handed.push(piece); copies.push(Buffer.from(piece)) } }, 4096)
  const lines = Array.from({ length: 600 }, (_, i) => `{"i":${i},"pad":"${'x'.repeat(100 + (i % 50))}"}\n`)
  for (const l of lines.slice(0, 200)) b.write(l)
  await tick()
  const first = handed.length
  assert.ok(first >= 4)
  assert.equal(new Set(handed.map((p) => p.buffer)).size, first, 'nothing reported: a buffer per piece')
  // The first piece written, the second all but its last byte.
  b.written(handed[0]!.length + handed[1]!.length - 1)
  for (const l of lines.slice(200, 400)) b.write(l)
  await tick()
  assert.equal(handed[first]!.buffer, handed[0]!.buffer, 'the written piece\'s buffer takes the next piece')
  assert.equal(handed.slice(first + 1).filter((p) => handed.slice(0, first).some((q) => q.buffer === p.buffer)).length, 0,
    'no other buffer still being written is taken')
  handed.forEach((p, i) => { if (i !== 0) assert.ok(p.equals(copies[i]!), `piece ${i} changed after it was handed over`) })
  assert.equal(Buffer.concat(copies).toString(), lines.slice(0, 400).join(''))
})

test('a destination that writes as it is called (a regular file) has one buffer serve piece after piece', async () => {
  const copies: Buffer[] = []
  const buffers = new Set<ArrayBufferLike>()
  const b: LineBatch = new LineBatch({ write (piece: Buffer) { buffers.add(piece.buffer); copies.push(Buffer.from(piece)); b.written(piece.length) } }, 4096)
  const lines = Array.from({ length: 3000 }, (_, i) => `{"i":${i},"t":"${'é'.repeat(i % 7)}${'x'.repeat(60 + (i % 90))}"}\n`)
  for (let i = 0; i < lines.length; i += 100) {
    for (const l of lines.slice(i, i + 100)) b.write(l)
    await tick()
  }
  assert.ok(copies.length > 50)
  // A piece starts small after a small one and grows by a new buffer; the largest is then used from piece to piece.
  assert.ok(buffers.size <= 4, `${buffers.size} buffers for ${copies.length} pieces`)
  assert.equal(Buffer.concat(copies).toString(), lines.join(''))
})

test('stdout on a pipe: every line arrives whole and in order, its pieces\' buffers reused', async () => {
  const logger = new URL('../../../src/log/logger.js', import.meta.url).href
  const script = `
    const { createLogger } = await import(${JSON.stringify(logger)})
    const log = createLogger({ level: 'info', pretty: false, base: {}, holdMs: 5 })
    for (let turn = 0; turn < 60; turn++) {
      for (let i = 0; i < 200; i++) log.info({ n: turn * 200 + i, pad: 'é'.repeat(i % 5) + 'x'.repeat(50 + (i * 37) % 300) })
      await new Promise((resolve) => setImmediate(resolve))
    }`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const chunks: Buffer[] = []
  child.stdout.on('data', (c: Buffer) => chunks.push(c))
  assert.equal(await new Promise((resolve) => child.on('exit', resolve)), 0)
  const lines = Buffer.concat(chunks).toString('utf8').split('\n')
  assert.equal(lines.pop(), '', 'ends with a whole line')
  assert.deepEqual(lines.map((l) => (JSON.parse(l) as { n: number }).n), Array.from({ length: 12_000 }, (_, i) => i))
  for (const [i, l] of lines.entries()) {
    const pad = (JSON.parse(l) as { pad: string }).pad
    assert.equal(pad, 'é'.repeat((i % 200) % 5) + 'x'.repeat(50 + ((i % 200) * 37) % 300), `line ${i}`)
  }
})
