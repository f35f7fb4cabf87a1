// SharedState on a real single redis-server (two clients, standing for two hosts), and the fault path: Redis stopped
// → StateUnavailableError quickly; Redis back on the same port → the same store works again.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import { createRedisState } from '../../../src/state/index.ts'
import { startRedis } from '../../helpers/redis.ts'
import { waitFor } from '../../helpers/index.ts'
import { stateContract } from './contract.ts'

const log = pino({ level: 'silent' })

stateContract('redis, single server', async () => {
  const closers: Array<() => Promise<void>> = []
  const redis = await startRedis({ after: (fn) => { closers.push(fn) } })
  const state = await createRedisState({ mode: 'single', url: redis.url, prefix: 'swy', log })
  const other = await createRedisState({ mode: 'single', url: redis.url, prefix: 'swy', log })
  return {
    state,
    other,
    async close () { await state.close(); await other.close(); for (const c of closers) await c() }
  }
}, { twoClients: true })

test('redis down: calls reject with SWY_STATE_UNAVAILABLE within bounds; back up: the same store recovers', async (t) => {
  const redis = await startRedis(t)
  const state = await createRedisState({ mode: 'single', url: redis.url, prefix: 'swy', timeoutMs: 200, log })
  t.after(() => state.close())
  assert.equal(await state.incr('{f}:n', 1, 60_000), 1)
  await redis.stop()
  const calls = [
    () => state.get('{f}:k'),
    () => state.incr('{f}:n', 1, 60_000),
    () => state.takeTokens('{f}:tb', { ratePerSec: 1, burst: 1, want: 1, nowMs: 0 }),
    () => state.publish('f', Uint8Array.of(1))
  ]
  for (const call of calls) {
    const started = Date.now()
    await assert.rejects(call(), { code: 'SWY_STATE_UNAVAILABLE', name: 'StateUnavailableError' })
    // Generous bound (the timeout is 200 ms): down must not mean a request waits for seconds.
    assert.ok(Date.now() - started < 2000, `rejected after ${Date.now() - started} ms`)
  }
  await redis.start()
  // The server restarted empty; the client reconnects by itself.
  await waitFor(async () => { try { return await state.incr('{f}:n', 1, 60_000) === 1 } catch { return false } }, 'the store to recover', 10_000, 50)
  await state.set('{f}:k', Uint8Array.of(5))
  assert.deepEqual([...await state.get('{f}:k') ?? []], [5])
})

test('redis unreachable at startup: the store still starts, degraded, and rejects with SWY_STATE_UNAVAILABLE', async (t) => {
  const redis = await startRedis(t)
  await redis.stop()
  const state = await createRedisState({ mode: 'single', url: redis.url, prefix: 'swy', timeoutMs: 100, readyTimeoutMs: 300, log })
  t.after(() => state.close())
  await assert.rejects(state.get('x'), { code: 'SWY_STATE_UNAVAILABLE' })
  await redis.start()
  await waitFor(async () => { try { return await state.get('x') === undefined } catch { return false } }, 'the store to connect', 10_000, 50)
})
