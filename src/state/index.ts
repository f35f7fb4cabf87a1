// Public surface of state/: the SharedState interface, its Redis and embedded implementations, keys and codec.
import type { Config } from '../config/index.ts'
import type { RedisTarget } from './redis.ts'

export type { SharedState, TokenRequest, TokenResult, MessageHandler, ExpiringMember } from './shared-state.ts'
export { StateUnavailableError } from './errors.ts'
export { createKeys, type KeySpace } from './keys.ts'
export { createCodec, encode, decode, type Codec } from './codec.ts'
export { takeFromBucket, type Bucket } from './token-bucket.ts'
export { createRedisState, type RedisStateOptions, type RedisTarget } from './redis.ts'
export { EmbeddedStore, type EmbeddedStoreOptions } from './embedded.ts'
export { attachStateWorker, serveEmbeddedState, createIpcState, type IpcChannel, type IpcStateOptions, type ClusterLike } from './embedded-ipc.ts'

/** The Redis deployment `state` names, or undefined for the embedded store (`state` absent). */
export function redisTargetOf (state: Config['state']): RedisTarget | undefined {
  if (state === undefined) return undefined
  if (state.redis !== undefined) return { mode: 'single', url: state.redis }
  if (state.sentinel !== undefined) return { mode: 'sentinel', sentinels: state.sentinel.sentinels, name: state.sentinel.name }
  if (state.cluster !== undefined) return { mode: 'cluster', nodes: state.cluster }
  return undefined
}
