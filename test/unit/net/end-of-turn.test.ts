// Writes held for the end of the turn: never made at once, made in the order they were held once the turn's callbacks
// are done (before anything scheduled after them), a write held during that burst joins it, and one that throws
// neither stops the others nor swallows its error.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { atEndOfTurn, type Deferred } from '../../../src/net/index.ts'

const run = promisify(execFile)

function recorder (log: string[], name: string, then?: () => void): Deferred {
  return { runDeferred () { log.push(name); then?.() } }
}

test('held writes run after the turn, in order, before what was scheduled after them', async () => {
  const log: string[] = []
  atEndOfTurn(recorder(log, 'a'))
  atEndOfTurn(recorder(log, 'b'))
  setImmediate(() => { log.push('later') })
  atEndOfTurn(recorder(log, 'c'))
  void Promise.resolve().then(() => { log.push('microtask') })
  log.push('sync')
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(log, ['sync', 'microtask', 'a', 'b', 'c', 'later'])
})

test('a write held while the held ones are made joins the same burst', async () => {
  const log: string[] = []
  atEndOfTurn(recorder(log, 'a', () => {
    setImmediate(() => { log.push('scheduled during the burst') })
    atEndOfTurn(recorder(log, 'held during the burst'))
  }))
  atEndOfTurn(recorder(log, 'b'))
  await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(log, ['a', 'b', 'held during the burst', 'scheduled during the burst'])
  // And the queue is empty again: the next held write is made in the next turn.
  atEndOfTurn(recorder(log, 'next'))
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(log.at(-1), 'next')
})

test('one held write that throws: its error reaches the process, the others are still made', async () => {
  // In a process of its own: the error must reach uncaughtException, which node:test would count as this test's failure.
  const mod = fileURLToPath(new URL('../../../src/net/end-of-turn.js', import.meta.url))
  const script = `
    const { atEndOfTurn } = await import(${JSON.stringify(mod)})
    const log = []
    process.on('uncaughtException', (err) => { log.push('uncaught ' + err.message) })
    atEndOfTurn({ runDeferred () { log.push('a') } })
    atEndOfTurn({ runDeferred () { log.push('b'); throw new Error('boom') } })
    atEndOfTurn({ runDeferred () { log.push('c') } })
    setTimeout(() => {
      atEndOfTurn({ runDeferred () { log.push('next turn') } })
      setTimeout(() => { console.log(JSON.stringify(log)) }, 20)
    }, 20)
  `
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script])
  assert.deepEqual(JSON.parse(stdout), ['a', 'b', 'uncaught boom', 'c', 'next turn'])
})
