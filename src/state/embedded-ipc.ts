// The embedded store across processes: serveEmbeddedState() answers workers in the primary, and createIpcState()
// is the worker's SharedState that forwards every call to it.
import type { Serializable } from 'node:child_process'
import type { Logger } from 'pino'
import type { SharedState, TokenRequest, TokenResult, MessageHandler, ExpiringMember } from './shared-state.ts'
import { StateUnavailableError } from './errors.ts'
import { isStateEvent, isStateReply, isStateRequest, fromB64, toB64, type StateOp, type StateRequest, type StateReply, type StateEvent } from './ipc.ts'

type Listener = (m: unknown) => void

/** One end of an IPC channel: node:cluster's Worker, a ChildProcess, or `process` in the child. */
export interface IpcChannel {
  send?: ((message: Serializable) => unknown) | undefined
  on (event: 'message', listener: Listener): unknown
  off (event: 'message', listener: Listener): unknown
}

/** The primary's side: answers one worker's requests on `store`. Returns a function that detaches the worker. */
export function attachStateWorker (store: SharedState, worker: IpcChannel, log?: Logger): () => void {
  const subs = new Map<string, () => Promise<void>>()
  const send = (m: StateReply | StateEvent): void => {
    try { worker.send?.(m) } catch { /* the worker is gone; its exit detaches it */ }
  }
  const onMessage: Listener = (m) => {
    if (!isStateRequest(m)) return
    run(m).then(
      (value) => { send({ type: 'state:reply', id: m.id, ok: true, value }) },
      (err: unknown) => { send({ type: 'state:reply', id: m.id, ok: false, error: (err as Error).message }) }
    )
  }
  const run = async (r: StateRequest): Promise<unknown> => {
    switch (r.op) {
      case 'get': { const v = await store.get(r.key); return v === undefined ? null : toB64(v) }
      case 'getMany': return (await store.getMany(r.keys)).map((v) => v === undefined ? null : toB64(v))
      case 'set': await store.set(r.key, fromB64(r.value), r.ttlMs); return null
      case 'del': return await store.del(...r.keys)
      case 'setnx': return await store.setIfAbsent(r.key, fromB64(r.value), r.ttlMs)
      case 'delif': return await store.delIfEquals(r.key, fromB64(r.value))
      case 'incr': return await store.incr(r.key, r.by, r.ttlMs)
      case 'take': return await store.takeTokens(r.key, r.req)
      case 'xadd': await store.addExpiring(r.key, r.member, r.expiresAtMs, r.nowMs); return null
      case 'xlist': return await store.listExpiring(r.key, r.nowMs)
      case 'xdel': return await store.removeExpiring(r.key, ...r.members)
      case 'publish': await store.publish(r.channel, fromB64(r.message)); return null
      case 'subscribe': {
        if (subs.has(r.channel)) return null
        const channel = r.channel
        subs.set(channel, await store.subscribe(channel, (msg) => { send({ type: 'state:message', channel, message: toB64(msg) }) }))
        return null
      }
      case 'unsubscribe': {
        const off = subs.get(r.channel)
        subs.delete(r.channel)
        await off?.()
        return null
      }
    }
  }
  worker.on('message', onMessage)
  return () => {
    worker.off('message', onMessage)
    for (const off of subs.values()) off().catch((err: unknown) => { log?.debug({ err }, 'state unsubscribe on detach failed') })
    subs.clear()
  }
}

/** What serveEmbeddedState needs of node:cluster (the module in the primary). */
export interface ClusterLike {
  on (event: 'fork', listener: (worker: IpcChannel & { once (event: 'exit', l: () => void): unknown }) => void): unknown
  off (event: 'fork', listener: (worker: IpcChannel & { once (event: 'exit', l: () => void): unknown }) => void): unknown
}

/**
 * Serves `store` to every worker `cluster` forks from now on (each is detached when it exits). Call it in the
 * primary before the first fork. Returns a function that stops serving new workers.
 */
export function serveEmbeddedState (store: SharedState, cluster: ClusterLike, log?: Logger): () => void {
  const onFork = (w: IpcChannel & { once (event: 'exit', l: () => void): unknown }): void => {
    const detach = attachStateWorker(store, w, log)
    w.once('exit', detach)
  }
  cluster.on('fork', onFork)
  return () => { cluster.off('fork', onFork) }
}

export interface IpcStateOptions {
  /** The channel to the primary: `process` in a worker. */
  readonly channel: IpcChannel & { readonly connected?: boolean }
  /** A request the primary has not answered after this long (±25%) rejects with StateUnavailableError. Default 250. */
  readonly timeoutMs?: number
  readonly log?: Logger
}

interface Pending { resolve (v: unknown): void, reject (e: Error): void, deadline: number }

/** The worker's SharedState on the primary's embedded store. */
export function createIpcState (o: IpcStateOptions): SharedState {
  return new IpcState(o)
}

class IpcState implements SharedState {
  readonly #ch: IpcChannel & { readonly connected?: boolean }
  readonly #timeoutMs: number
  readonly #log: Logger | undefined
  readonly #pending = new Map<number, Pending>()
  readonly #handlers = new Map<string, Set<MessageHandler>>()
  readonly #onMessage: Listener
  // One coarse timer for every deadline rather than a setTimeout per request.
  readonly #timer: NodeJS.Timeout
  #nextId = 1
  #closed = false

  constructor (o: IpcStateOptions) {
    this.#ch = o.channel
    this.#timeoutMs = o.timeoutMs ?? 250
    this.#log = o.log
    this.#onMessage = (m) => {
      if (isStateReply(m)) {
        const p = this.#pending.get(m.id)
        if (p === undefined) return
        this.#settled(m.id)
        if (m.ok) p.resolve(m.value)
        else p.reject(new StateUnavailableError(`embedded state: ${m.error}`))
      } else if (isStateEvent(m)) {
        const hs = this.#handlers.get(m.channel)
        if (hs === undefined) return
        const msg = fromB64(m.message)
        for (const h of hs) {
          try { h(msg) } catch (err) { this.#log?.error({ err, channel: m.channel }, 'state message handler threw') }
        }
      }
    }
    this.#ch.on('message', this.#onMessage)
    this.#timer = setInterval(() => { this.#expire() }, Math.max(5, Math.floor(this.#timeoutMs / 4)))
    this.#timer.unref()
  }

  #expire (): void {
    const now = Date.now()
    for (const [id, p] of this.#pending) {
      if (p.deadline > now) continue
      this.#settled(id)
      p.reject(new StateUnavailableError(`embedded state: the primary did not answer within ${this.#timeoutMs} ms`))
    }
  }

  // The timer holds the process open only while a request waits, so a deadline always fires.
  #settled (id: number): void {
    this.#pending.delete(id)
    if (this.#pending.size === 0) this.#timer.unref()
  }

  async #call (op: StateOp): Promise<unknown> {
    if (this.#closed) throw new StateUnavailableError('state store is closed')
    if (this.#ch.send === undefined || this.#ch.connected === false) throw new StateUnavailableError('embedded state: no IPC channel to the primary')
    const id = this.#nextId++
    return await new Promise((resolve, reject) => {
      if (this.#pending.size === 0) this.#timer.ref()
      this.#pending.set(id, { resolve, reject, deadline: Date.now() + this.#timeoutMs })
      try {
        this.#ch.send!({ type: 'state', id, ...op })
      } catch (err) {
        this.#settled(id)
        reject(new StateUnavailableError(`embedded state: ${(err as Error).message}`, err))
      }
    })
  }

  async get (key: string): Promise<Uint8Array | undefined> {
    const v = await this.#call({ op: 'get', key }) as string | null
    return v === null ? undefined : fromB64(v)
  }

  async getMany (keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    const vs = await this.#call({ op: 'getMany', keys }) as Array<string | null>
    return vs.map((v) => v === null ? undefined : fromB64(v))
  }

  async set (key: string, value: Uint8Array, ttlMs?: number): Promise<void> {
    await this.#call(ttlMs === undefined ? { op: 'set', key, value: toB64(value) } : { op: 'set', key, value: toB64(value), ttlMs })
  }

  async del (...keys: string[]): Promise<number> {
    return await this.#call({ op: 'del', keys }) as number
  }

  async setIfAbsent (key: string, value: Uint8Array, ttlMs: number): Promise<boolean> {
    return await this.#call({ op: 'setnx', key, value: toB64(value), ttlMs }) as boolean
  }

  async delIfEquals (key: string, value: Uint8Array): Promise<boolean> {
    return await this.#call({ op: 'delif', key, value: toB64(value) }) as boolean
  }

  async incr (key: string, by: number, ttlMs: number): Promise<number> {
    return await this.#call({ op: 'incr', key, by, ttlMs }) as number
  }

  async takeTokens (key: string, req: TokenRequest): Promise<TokenResult> {
    return await this.#call({ op: 'take', key, req }) as TokenResult
  }

  async addExpiring (key: string, member: string, expiresAtMs: number, nowMs: number): Promise<void> {
    await this.#call({ op: 'xadd', key, member, expiresAtMs, nowMs })
  }

  async listExpiring (key: string, nowMs: number): Promise<ExpiringMember[]> {
    return await this.#call({ op: 'xlist', key, nowMs }) as ExpiringMember[]
  }

  async removeExpiring (key: string, ...members: string[]): Promise<number> {
    return await this.#call({ op: 'xdel', key, members }) as number
  }

  async publish (channel: string, message: Uint8Array): Promise<void> {
    await this.#call({ op: 'publish', channel, message: toB64(message) })
  }

  async subscribe (channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    let set = this.#handlers.get(channel)
    if (set === undefined) {
      await this.#call({ op: 'subscribe', channel })
      // Another subscribe for the channel may have finished while this one waited.
      set = this.#handlers.get(channel) ?? new Set()
      this.#handlers.set(channel, set)
    }
    const hs = set
    hs.add(handler)
    let done = false
    return async () => {
      if (done) return
      done = true
      hs.delete(handler)
      if (hs.size > 0 || this.#handlers.get(channel) !== hs) return
      this.#handlers.delete(channel)
      if (!this.#closed) await this.#call({ op: 'unsubscribe', channel })
    }
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    this.#ch.off('message', this.#onMessage)
    for (const p of this.#pending.values()) p.reject(new StateUnavailableError('state store is closed'))
    this.#pending.clear()
    this.#handlers.clear()
  }
}
