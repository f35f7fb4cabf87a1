// The cache stage in-process: a fake store (records puts, locks and releases), the real RFC 9111 policy, a recording
// downstream and a fake upstream stage. Covers the synchronous memory hit, storing while streaming, max_object,
// client abort, coalesced waiters, a shared-state outage and stale-if-error on an unreachable backend.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import { Exchange, NEXT, DONE, runStages, type Downstream, type Stage } from '../../../src/pipeline/index.ts'
import { createCacheStage, rfc9111, CacheTee, type CacheEntry, type CacheStore } from '../../../src/cache/index.ts'
import { loadConfig } from '../../../src/config/index.ts'

const NOW = 1_800_000_000_000

class FakeStore implements CacheStore {
  mem = new Map<string, CacheEntry>()
  shared = new Map<string, CacheEntry>()
  vary = new Map<string, readonly string[]>()
  puts: string[] = []
  locks: string[] = []
  releases: string[] = []
  lockAnswer: 'acquired' | 'held' | 'unavailable' = 'acquired'
  /** waitFill resolves when this is resolved (tests fill the shared level first). */
  fill: Promise<'released' | 'expired' | 'timeout'> = Promise.resolve('released')
  getLocal (k: string): CacheEntry | undefined { return this.mem.get(k) }
  async get (k: string): Promise<CacheEntry | undefined> { return this.mem.get(k) ?? await this.getShared(k) }
  async getShared (k: string): Promise<CacheEntry | undefined> {
    const e = this.shared.get(k)
    if (e !== undefined) this.mem.set(k, e)
    return e
  }
  async put (k: string, e: CacheEntry): Promise<void> { this.puts.push(k); this.mem.set(k, e); this.shared.set(k, e) }
  async getVary (k: string): Promise<readonly string[] | undefined> { return this.vary.get(k) }
  getVaryLocal (k: string): readonly string[] | undefined { return this.vary.get(k) }
  async setVary (k: string, names: readonly string[]): Promise<void> { this.vary.set(k, names) }
  async lock (k: string): Promise<'acquired' | 'held' | 'unavailable'> { this.locks.push(k); return this.lockAnswer }
  async release (k: string): Promise<void> { this.releases.push(k) }
  async waitFill (): Promise<'released' | 'expired' | 'timeout'> { return await this.fill }
  async purge (): Promise<number> { return 0 }
  async close (): Promise<void> {}
}

class Recorder implements Downstream {
  onDrain: (() => void) | null = null
  calls: string[] = []
  status = 0
  headers: Array<string | Uint8Array> = []
  body = ''
  ex: Exchange | null = null
  start (status: number, headers: readonly (string | Uint8Array)[]): void { this.status = status; this.headers = [...headers]; this.calls.push('start') }
  write (chunk: Uint8Array): boolean { this.body += Buffer.from(chunk).toString(); this.calls.push('write'); return true }
  end (): void { this.calls.push('end'); this.ex?.completed() }
  abort (): void { this.calls.push('abort'); this.ex?.clientAborted() }
  reply (status: number, _h: readonly string[], body: string): void { this.status = status; this.body = body; this.calls.push('reply'); this.ex?.completed() }
  /** A response field as the client reads it (cache hits fold several lines into one pair: serve.ts). */
  header (name: string): string | undefined {
    const lines: string[] = []
    for (let i = 0; i < this.headers.length; i += 2) lines.push(...`${String(this.headers[i])}: ${String(this.headers[i + 1])}`.split('\r\n'))
    for (const l of lines) if (l.slice(0, l.indexOf(':')).toLowerCase() === name) return l.slice(l.indexOf(':') + 2)
    return undefined
  }
}

function exchange (headers: string[] = []): { ex: Exchange, down: Recorder } {
  const down = new Recorder()
  const ex = new Exchange({
    method: 'GET', path: '/a', query: 'b=1', host: 'Example.test', headers: ['host', 'Example.test', ...headers], contentLength: -1, contentLengthCount: 0,
    chunked: false, peerIp: '127.0.0.1', tls: false, startTime: 0, body: null, downstream: down,
    replies: { reply: (e, code) => { e.downstream.reply(code === 'SWY_UPSTREAM_UNREACHABLE' ? 502 : 500, [], code, false) }, fault: () => {} },
    onComplete: () => {}
  })
  down.ex = ex
  ex.requestId = 'rid'
  return { ex, down }
}

/** An upstream that answers through ex.downstream the way the forward stage does. */
function upstream (status: number, headers: string[], chunks: string[], o: { abortAfter?: number, unreachable?: boolean } = {}): Stage & { calls: number, sent: readonly string[][] } {
  const sent: string[][] = []
  const s = {
    name: 'upstream',
    calls: 0,
    sent,
    run (ex: Exchange) {
      s.calls++
      sent.push([...ex.forwardHeaders])
      if (o.unreachable === true) return ex.reject('SWY_UPSTREAM_UNREACHABLE')
      const d = ex.downstream
      if (d instanceof CacheTee) d.date = new Date(NOW).toUTCString()
      d.start(status, headers.map((h) => Buffer.from(h)), -1)
      for (const [i, c] of chunks.entries()) {
        if (o.abortAfter === i) { ex.clientAborted(); return DONE }
        d.write(Buffer.from(c))
      }
      d.end()
      return DONE
    }
  }
  return s
}

/** The cache stage of a route whose next stage is `rest`: a background refresh runs what follows it in the route. */
function stage (store: CacheStore, rest: Stage, cache: Record<string, unknown> = {}): Stage {
  const config = loadConfig({ upstreams: { u: { servers: [{ url: 'http://127.0.0.1:9' }] } }, routes: [{ upstream: 'u', cache }] })
  const s = createCacheStage({ routeId: '/', config: config.routes[0]!.cache!, store, policy: rfc9111, now: () => NOW, log: pino({ level: 'silent' }) })
  const route = { id: '/', upstream: 'u', stages: [s, rest] }
  return { name: 'cache', run (ex) { ex.route = route; return s.run(ex) } }
}

const flush = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)) }

async function fill (store: FakeStore, body = 'cached', headers = ['cache-control', 'max-age=60']): Promise<void> {
  const up = upstream(200, headers, [body])
  const { ex } = exchange()
  await runStages([stage(store, up), up], ex)
  await flush()
}

test('a fresh entry in worker memory is served synchronously: no promise, HIT, Age, request id', async () => {
  const store = new FakeStore()
  await fill(store)
  const up = upstream(200, [], ['never'])
  const { ex, down } = exchange()
  const v = stage(store, up).run(ex)
  assert.equal(v, DONE)
  assert.deepEqual(down.calls, ['start', 'write', 'end'])
  assert.equal(down.status, 200)
  assert.equal(down.body, 'cached')
  assert.equal(down.header('x-cache'), 'HIT')
  assert.equal(down.header('age'), '0')
  assert.equal(down.header('x-request-id'), 'rid')
  assert.equal(up.calls, 0)
})

test('a stale copy in worker memory does not hide a fresh entry another worker stored: HIT from the shared level', async () => {
  const store = new FakeStore()
  await fill(store, 'old', ['cache-control', 'max-age=0, stale-while-revalidate=60'])
  const other = new FakeStore()
  await fill(other, 'new')
  const key = '/|example.test|/a?b=1'
  assert.ok(store.mem.has(key))
  store.shared.set(key, other.shared.get(key)!)
  store.locks.length = 0
  const up = upstream(200, [], ['never'])
  const { ex, down } = exchange()
  assert.equal(await stage(store, up).run(ex), DONE)
  assert.equal(down.body, 'new')
  assert.equal(down.header('x-cache'), 'HIT')
  assert.equal(up.calls, 0, 'no revalidation: the shared entry was fresh')
  assert.deepEqual(store.locks, [])
  assert.equal(store.mem.get(key)?.body.toString(), 'new', 'the fresh entry replaced the memory copy')
})

test('a miss locks, streams to the client while storing, then puts and releases', async () => {
  const store = new FakeStore()
  const up = upstream(200, ['cache-control', 'max-age=60', 'etag', '"x"'], ['he', 'llo'])
  const { ex, down } = exchange()
  const p = stage(store, up).run(ex)
  assert.ok(p instanceof Promise, 'a memory miss waits on the store')
  assert.equal(await p, NEXT)
  assert.ok(ex.downstream instanceof CacheTee)
  await up.run(ex)
  await flush()
  assert.equal(down.body, 'hello')
  assert.equal(down.header('x-cache'), 'MISS')
  assert.deepEqual(store.locks, ['/|example.test|/a?b=1'])
  assert.deepEqual(store.puts, ['/|example.test|/a?b=1'])
  assert.deepEqual(store.releases, ['/|example.test|/a?b=1'])
  const e = store.shared.get('/|example.test|/a?b=1')!
  assert.equal(Buffer.from(e.body).toString(), 'hello')
  assert.equal(e.url, 'example.test/a?b=1')
  assert.equal(e.etag, '"x"')
})

test('a body over max_object streams through whole and is not stored; the lock is released', async () => {
  const store = new FakeStore()
  const up = upstream(200, ['cache-control', 'max-age=60'], ['x'.repeat(600), 'y'.repeat(600)])
  const { ex, down } = exchange()
  await runStages([stage(store, up, { max_object: '1kb' }), up], ex)
  await flush()
  assert.equal(down.body.length, 1200)
  assert.deepEqual(store.puts, [])
  assert.equal(store.releases.length, 1)
})

test('a client that aborts mid-body: nothing stored, the lock released so waiters fetch themselves', async () => {
  const store = new FakeStore()
  const up = upstream(200, ['cache-control', 'max-age=60'], ['a', 'b', 'c'], { abortAfter: 1 })
  const { ex } = exchange()
  await runStages([stage(store, up), up], ex)
  await flush()
  assert.deepEqual(store.puts, [])
  assert.equal(store.releases.length, 1)
})

test('lock held elsewhere: the request waits for the fill and is served from it without the backend', async () => {
  const store = new FakeStore()
  store.lockAnswer = 'held'
  let filled!: (v: 'released') => void
  store.fill = new Promise((resolve) => { filled = resolve })
  const up = upstream(200, [], ['never'])
  const { ex, down } = exchange()
  const p = runStages([stage(store, up), up], ex)
  await flush()
  assert.deepEqual(down.calls, [], 'still waiting')
  // The other host's fill lands in the shared level, then its release is announced.
  const other = new FakeStore()
  await fill(other, 'from elsewhere')
  store.shared = other.shared
  filled('released')
  await p
  assert.equal(down.body, 'from elsewhere')
  assert.equal(down.header('x-cache'), 'HIT')
  assert.equal(up.calls, 0)
})

test('shared state unavailable: the request is fetched and kept in memory (put), never an error', async () => {
  const store = new FakeStore()
  store.lockAnswer = 'unavailable'
  const up = upstream(200, ['cache-control', 'max-age=60'], ['ok'])
  const { ex, down } = exchange()
  await runStages([stage(store, up), up], ex)
  await flush()
  assert.equal(down.status, 200)
  assert.equal(down.body, 'ok')
  assert.equal(store.puts.length, 1)
  assert.deepEqual(store.releases, [], 'no lock to release')
})

test('stale entry, backend unreachable, inside stale-if-error: the stale entry answers (STALE)', async () => {
  const store = new FakeStore()
  await fill(store, 'old', ['cache-control', 'max-age=60, stale-if-error=600', 'age', '120', 'etag', '"s"'])
  const up = upstream(200, [], [], { unreachable: true })
  const { ex, down } = exchange()
  await runStages([stage(store, up), up], ex)
  await flush()
  assert.equal(down.status, 200)
  assert.equal(down.body, 'old')
  assert.equal(down.header('x-cache'), 'STALE')
  assert.deepEqual(up.sent[0]?.slice(-2), ['if-none-match', '"s"'], 'the revalidation carried the entry\'s validator')
})

test('a request with no-store bypasses the cache: no lock, nothing stored, X-Cache: BYPASS', async () => {
  const store = new FakeStore()
  const up = upstream(200, ['cache-control', 'max-age=60'], ['ok'])
  const { ex, down } = exchange(['cache-control', 'no-store'])
  await runStages([stage(store, up), up], ex)
  await flush()
  assert.equal(down.header('x-cache'), 'BYPASS')
  assert.deepEqual(store.locks, [])
  assert.deepEqual(store.puts, [])
})
