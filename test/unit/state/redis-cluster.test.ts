// SharedState on a real 3-master Redis Cluster started by the test: hash-tagged keys keep each script in one slot,
// and getMany/del spread over the nodes.
import pino from 'pino'
import { createRedisState } from '../../../src/state/index.ts'
import { startRedisCluster } from '../../helpers/redis.ts'
import { stateContract } from './contract.ts'

const log = pino({ level: 'silent' })

stateContract('redis cluster, 3 masters', async () => {
  const closers: Array<() => Promise<void>> = []
  const cluster = await startRedisCluster({ after: (fn) => { closers.push(fn) } })
  const state = await createRedisState({ mode: 'cluster', nodes: cluster.nodes, prefix: 'swy', timeoutMs: 1000, readyTimeoutMs: 10_000, log })
  const other = await createRedisState({ mode: 'cluster', nodes: cluster.nodes, prefix: 'swy', timeoutMs: 1000, readyTimeoutMs: 10_000, log })
  return {
    state,
    other,
    async close () { await state.close(); await other.close(); for (const c of closers) await c() }
  }
}, { twoClients: true })
