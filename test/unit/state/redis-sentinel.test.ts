// SharedState on a real Sentinel deployment (master + replica, three sentinels) started by the test: the contract
// suite through the sentinels, and a failover: the master is killed, calls degrade with SWY_STATE_UNAVAILABLE, and
// the same store (and its pub/sub subscription) finds the promoted replica by itself.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import { Redis } from 'ioredis'
import { createRedisState } from '../../../src/state/index.ts'
import { startRedisSentinel } from '../../helpers/redis.ts'
import { waitFor } from '../../helpers/index.ts'
import { stateContract } from './contract.ts'

const log = pino({ level: 'silent' })

stateContract('redis sentinel, master + replica', async () => {
  const closers: Array<() => Promise<void>> = []
  const s = await startRedisSentinel({ after: (fn) => { closers.push(fn) } })
  const o = { mode: 'sentinel', sentinels: s.sentinels, name: s.name, prefix: 'swy', timeoutMs: 1000, readyTimeoutMs: 10_000, log } as const
  const state = await createRedisState(o)
  const other = await createRedisState(o)
  return {
    state,
    other,
    async close () { await state.close(); await other.close(); for (const c of closers) await c() }
  }
}, { twoClients: true })

test('sentinel failover: the master is killed, calls fail fast meanwhile, then the store and its subscription use the promoted replica', async (t) => {
  const s = await startRedisSentinel(t)
  const state = await createRedisState({ mode: 'sentinel', sentinels: s.sentinels, name: s.name, prefix: 'swy', timeoutMs: 200, readyTimeoutMs: 10_000, log })
  t.after(() => state.close())
  await state.set('{fo}:before', Uint8Array.of(1))
  // Wait until the write reached the replica, so it survives the failover (replication is asynchronous).
  const replica = new Redis({ host: '127.0.0.1', port: s.replicaPort, lazyConnect: true, maxRetriesPerRequest: 0 })
  replica.on('error', () => {})
  t.after(() => { replica.disconnect() })
  await waitFor(async () => (await replica.exists('{fo}:before')) === 1, 'the replica to have the key', 5000, 20)
  const got: number[] = []
  await state.subscribe('fo:events', (m) => { got.push(m[0]!) })

  const failover = s.failover()
  // While no master is reachable, every call settles within bounds (ok or SWY_STATE_UNAVAILABLE), never hangs.
  const outcomes = new Set<string>()
  let settled = false
  void failover.finally(() => { settled = true })
  while (!settled) {
    const started = Date.now()
    try { await state.incr('{fo}:during', 1, 60_000); outcomes.add('ok') } catch (err) {
      assert.equal((err as { code?: string }).code, 'SWY_STATE_UNAVAILABLE')
      outcomes.add('unavailable')
    }
    assert.ok(Date.now() - started < 2000, `a call took ${Date.now() - started} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const newMaster = await failover
  assert.equal(newMaster, s.replicaPort)
  assert.ok(outcomes.has('unavailable'), 'calls failed fast while the master was gone')

  // ioredis asks the sentinels again on reconnect and lands on the promoted replica.
  await waitFor(async () => { try { await state.set('{fo}:after', Uint8Array.of(2)); return true } catch { return false } }, 'the store to reach the new master', 15_000, 50)
  assert.deepEqual([...await state.get('{fo}:before') ?? []], [1], 'data replicated before the failover is still there')
  assert.deepEqual([...await replica.getBuffer('{fo}:after') ?? []], [2], 'the write went to the promoted replica')
  const r = await state.takeTokens('{fo}:tb', { ratePerSec: 1, burst: 3, want: 2, nowMs: 1000 })
  assert.equal(r.granted, 2)
  assert.equal(await replica.exists('{fo}:tb'), 1)
  // The subscriber connection follows the failover too and subscribes again on the new master.
  await waitFor(async () => {
    try { await state.publish('fo:events', Uint8Array.of(7)) } catch { return false }
    return got.includes(7)
  }, 'a message published after the failover to reach the subscriber', 15_000, 200)
})
