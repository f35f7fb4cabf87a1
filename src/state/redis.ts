// SharedState on Redis (single, Sentinel or Cluster) through ioredis: one command client with auto-pipelining and
// Lua read-modify-write scripts, plus a subscriber connection opened on the first subscribe.
import { Buffer } from 'node:buffer'
import { Redis, Cluster } from 'ioredis'
import type { Logger } from 'pino'
import type { SharedState, TokenRequest, TokenResult, MessageHandler, ExpiringMember } from './shared-state.ts'
import { StateUnavailableError, unavailable } from './errors.ts'
import { TAKE_TOKENS_LUA, INCR_WINDOW_LUA, ADD_EXPIRING_LUA, DEL_IF_EQUALS_LUA } from './token-bucket.ts'

export type RedisTarget =
  | { readonly mode: 'single', readonly url: string }
  | { readonly mode: 'sentinel', readonly sentinels: ReadonlyArray<{ readonly host: string, readonly port: number }>, readonly name: string }
  | { readonly mode: 'cluster', readonly nodes: ReadonlyArray<{ readonly host: string, readonly port: number }> }

export type RedisStateOptions = RedisTarget & {
  /** Prepended to nothing: keys come already named (keys.ts). Kept for logs. */
  readonly prefix: string
  /** Command timeout (ms): a command without a reply by then rejects with StateUnavailableError. Default 250. */
  readonly timeoutMs?: number
  /** How long createRedisState waits for the first connection before resolving anyway (degraded). Default 2000. */
  readonly readyTimeoutMs?: number
  readonly log: Logger
}

type Client = Redis | Cluster
interface Scripted {
  swyTakeTokens (key: string, rate: number, burst: number, want: number, now: number): Promise<[number, string, number]>
  swyIncrWindow (key: string, by: number, ttlMs: number): Promise<number>
  swyAddExpiring (key: string, member: string, expiresAtMs: number, nowMs: number): Promise<number>
  swyDelIfEquals (key: string, value: Buffer): Promise<number>
}

/** Reconnect quickly (50 ms, growing to 1 s) and forever: the state must come back without a restart. */
const retryStrategy = (times: number): number => Math.min(50 * times, 1000)

/**
 * Connects to Redis and resolves a SharedState once connected, or after `readyTimeoutMs` with Redis still down
 * (calls then reject with StateUnavailableError until it comes up; the client keeps reconnecting).
 *
 * Fail-fast settings: no offline queue (a command while disconnected rejects at once rather than waiting),
 * `commandTimeout` (a slow or vanished server rejects after `timeoutMs`), and `maxRetriesPerRequest: 0` (a command
 * in flight when the connection drops is rejected, not replayed: an INCRBY must not count twice).
 */
export async function createRedisState (o: RedisStateOptions): Promise<SharedState> {
  const timeoutMs = o.timeoutMs ?? 250
  const connectTimeout = Math.max(1000, timeoutMs * 4)
  const common = {
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    connectTimeout,
    retryStrategy
  }
  const log = o.log.child({ state: o.mode })
  let client: Client
  if (o.mode === 'cluster') {
    client = new Cluster(o.nodes.map((n) => ({ host: n.host, port: n.port })), {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      clusterRetryStrategy: retryStrategy,
      redisOptions: { commandTimeout: timeoutMs, maxRetriesPerRequest: 0, connectTimeout }
    })
  } else if (o.mode === 'sentinel') {
    client = new Redis({ ...common, sentinels: o.sentinels.map((s) => ({ host: s.host, port: s.port })), name: o.name })
  } else {
    client = new Redis(o.url, common)
  }
  client.defineCommand('swyTakeTokens', { numberOfKeys: 1, lua: TAKE_TOKENS_LUA })
  client.defineCommand('swyIncrWindow', { numberOfKeys: 1, lua: INCR_WINDOW_LUA })
  client.defineCommand('swyAddExpiring', { numberOfKeys: 1, lua: ADD_EXPIRING_LUA })
  client.defineCommand('swyDelIfEquals', { numberOfKeys: 1, lua: DEL_IF_EQUALS_LUA })
  const store = new RedisState(client, log)
  await store.waitReady(o.readyTimeoutMs ?? 2000)
  return store
}

class RedisState implements SharedState {
  readonly #c: Client
  readonly #s: Scripted
  readonly #log: Logger
  #sub: Client | undefined
  readonly #handlers = new Map<string, Set<MessageHandler>>()
  #closed = false
  #down = false

  constructor (client: Client, log: Logger) {
    this.#c = client
    this.#s = client as unknown as Scripted
    this.#log = log
    // Without a listener ioredis prints every connection error; one warning per outage is enough here.
    client.on('error', (err: Error) => {
      if (!this.#down) log.warn({ err: err.message }, 'redis unavailable; state calls degrade until it is back')
      this.#down = true
    })
    client.on('ready', () => {
      if (this.#down) log.info('redis available again')
      this.#down = false
    })
  }

  async waitReady (ms: number): Promise<void> {
    if (this.#c.status === 'ready') return
    await new Promise<void>((resolve) => {
      const done = (): void => { clearTimeout(timer); this.#c.off('ready', done); resolve() }
      const timer = setTimeout(() => {
        this.#log.warn({ waitedMs: ms }, 'redis not reachable at startup; starting degraded')
        done()
      }, ms)
      this.#c.on('ready', done)
    })
  }

  #check (): void {
    if (this.#closed) throw new StateUnavailableError('state store is closed')
  }

  async get (key: string): Promise<Uint8Array | undefined> {
    this.#check()
    try {
      return (await this.#c.getBuffer(key)) ?? undefined
    } catch (err) { throw unavailable(err, 'redis get') }
  }

  async getMany (keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    this.#check()
    // Not MGET: keys of different slots may sit on different Cluster nodes. Auto-pipelining sends these GETs in
    // one write per node.
    try {
      const values = await Promise.all(keys.map(async (k) => await this.#c.getBuffer(k)))
      return values.map((v) => v ?? undefined)
    } catch (err) { throw unavailable(err, 'redis getMany') }
  }

  async set (key: string, value: Uint8Array, ttlMs?: number): Promise<void> {
    this.#check()
    const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    try {
      if (ttlMs === undefined) await this.#c.set(key, buf)
      else await this.#c.set(key, buf, 'PX', Math.max(1, Math.ceil(ttlMs)))
    } catch (err) { throw unavailable(err, 'redis set') }
  }

  async del (...keys: string[]): Promise<number> {
    this.#check()
    if (keys.length === 0) return 0
    // One DEL per key for the same reason as getMany (cross-slot keys on Cluster).
    try {
      const n = await Promise.all(keys.map(async (k) => await this.#c.del(k)))
      return n.reduce((a, b) => a + b, 0)
    } catch (err) { throw unavailable(err, 'redis del') }
  }

  async setIfAbsent (key: string, value: Uint8Array, ttlMs: number): Promise<boolean> {
    this.#check()
    const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    try {
      return await this.#c.set(key, buf, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX') === 'OK'
    } catch (err) { throw unavailable(err, 'redis setIfAbsent') }
  }

  async delIfEquals (key: string, value: Uint8Array): Promise<boolean> {
    this.#check()
    try {
      return Number(await this.#s.swyDelIfEquals(key, Buffer.from(value.buffer, value.byteOffset, value.byteLength))) === 1
    } catch (err) { throw unavailable(err, 'redis delIfEquals') }
  }

  async incr (key: string, by: number, ttlMs: number): Promise<number> {
    this.#check()
    try {
      return Number(await this.#s.swyIncrWindow(key, by, Math.max(1, Math.ceil(ttlMs))))
    } catch (err) { throw unavailable(err, 'redis incr') }
  }

  async takeTokens (key: string, req: TokenRequest): Promise<TokenResult> {
    this.#check()
    try {
      const [granted, tokens, retryAfterMs] = await this.#s.swyTakeTokens(key, req.ratePerSec, req.burst, req.want, req.nowMs)
      return { granted: Number(granted), tokens: Number(tokens), retryAfterMs: Number(retryAfterMs) }
    } catch (err) { throw unavailable(err, 'redis takeTokens') }
  }

  async addExpiring (key: string, member: string, expiresAtMs: number, nowMs: number): Promise<void> {
    this.#check()
    try {
      await this.#s.swyAddExpiring(key, member, expiresAtMs, nowMs)
    } catch (err) { throw unavailable(err, 'redis addExpiring') }
  }

  async listExpiring (key: string, nowMs: number): Promise<ExpiringMember[]> {
    this.#check()
    let flat: string[]
    try {
      // `(now`: strictly later than now, the same boundary the embedded store uses.
      flat = await this.#c.zrangebyscore(key, `(${nowMs}`, '+inf', 'WITHSCORES')
    } catch (err) { throw unavailable(err, 'redis listExpiring') }
    const out: ExpiringMember[] = []
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ member: flat[i]!, expiresAtMs: Number(flat[i + 1]) })
    return out
  }

  async removeExpiring (key: string, ...members: string[]): Promise<number> {
    this.#check()
    if (members.length === 0) return 0
    try {
      return await this.#c.zrem(key, ...members)
    } catch (err) { throw unavailable(err, 'redis removeExpiring') }
  }

  async publish (channel: string, message: Uint8Array): Promise<void> {
    this.#check()
    try {
      await this.#c.publish(channel, Buffer.from(message.buffer, message.byteOffset, message.byteLength))
    } catch (err) { throw unavailable(err, 'redis publish') }
  }

  async subscribe (channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    this.#check()
    const sub = this.#subscriber()
    let set = this.#handlers.get(channel)
    if (set === undefined) {
      set = new Set()
      this.#handlers.set(channel, set)
    }
    set.add(handler)
    try {
      // SUBSCRIBE again for a channel already subscribed is harmless, and confirms the connection is up.
      await withTimeout(sub.subscribe(channel), this.#subTimeoutMs(), 'redis subscribe')
    } catch (err) {
      set.delete(handler)
      if (set.size === 0) this.#handlers.delete(channel)
      throw unavailable(err, 'redis subscribe')
    }
    let done = false
    return async () => {
      if (done) return
      done = true
      set.delete(handler)
      if (set.size > 0 || this.#handlers.get(channel) !== set) return
      this.#handlers.delete(channel)
      if (this.#closed) return
      try { await sub.unsubscribe(channel) } catch (err) { throw unavailable(err, 'redis unsubscribe') }
    }
  }

  #subTimeoutMs (): number {
    const t = (this.#c instanceof Cluster ? this.#c.options.redisOptions?.commandTimeout : this.#c.options.commandTimeout) ?? 250
    // SUBSCRIBE may wait for the subscriber's own first connection.
    return Math.max(2000, t * 4)
  }

  #subscriber (): Client {
    if (this.#sub !== undefined) return this.#sub
    // A connection in subscribe mode cannot run other commands (RESP2), so pub/sub gets its own. It keeps an
    // offline queue (SUBSCRIBE waits for its connection, bounded by withTimeout) and resubscribes on reconnect.
    const sub: Client = this.#c instanceof Cluster
      ? this.#c.duplicate(undefined, { enableOfflineQueue: true })
      : this.#c.duplicate({ enableOfflineQueue: true, enableAutoPipelining: false, commandTimeout: undefined })
    sub.on('error', () => {})
    sub.on('messageBuffer', (ch: Buffer, msg: Buffer) => {
      const hs = this.#handlers.get(ch.toString())
      if (hs === undefined) return
      for (const h of hs) {
        try { h(msg) } catch (err) { this.#log.error({ err, channel: ch.toString() }, 'state message handler threw') }
      }
    })
    this.#sub = sub
    return sub
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#handlers.clear()
    await Promise.all([this.#c, this.#sub].map(async (c) => {
      if (c === undefined) return
      try { await c.quit() } catch { c.disconnect() }
    }))
  }
}

async function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new StateUnavailableError(`${what}: no answer within ${ms} ms`)) }, ms)
    })])
  } finally { clearTimeout(timer) }
}
