// Sticky sessions in-process: two "workers" (two stickies) on one real embedded store with a hand-moved clock and
// seeded random bytes. Issuing, sharing, renewing at most once per ttl/2, moving on failure (announced over pub/sub),
// learning from Set-Cookie, and the hash fallback while state is down, with recovery.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createStrategy, createSticky, setCookieValue, FALLBACK, type Sticky, type Target } from '../../../src/balancer/index.ts'
import { EmbeddedStore, StateUnavailableError, createKeys, type SharedState } from '../../../src/state/index.ts'
import { Exchange, NEXT, type Verdict } from '../../../src/pipeline/index.ts'
import type { StickyConfig } from '../../../src/config/index.ts'
import { makeTargets, mulberry32 } from './helpers.ts'

const TTL = 60_000

class Clock {
  t = 1_000_000
  readonly now = (): number => this.t
  advance (ms: number): void { this.t += ms }
}

/** The embedded store, with a switch that makes every call fail as a Redis outage would. */
class Flaky {
  down = false
  readonly store: EmbeddedStore
  readonly calls: string[] = []
  constructor (now: () => number) { this.store = new EmbeddedStore({ now, sweepMs: 0 }) }
  #gate (op: string): void {
    this.calls.push(op)
    if (this.down) throw new StateUnavailableError('redis is down (test)')
  }

  readonly state: Pick<SharedState, 'get' | 'set' | 'publish' | 'subscribe'> = {
    get: async (k) => { this.#gate('get'); return await this.store.get(k) },
    set: async (k, v, ttl) => { this.#gate('set'); await this.store.set(k, v, ttl) },
    publish: async (c, m) => { this.#gate('publish'); await this.store.publish(c, m) },
    subscribe: async (c, h) => await this.store.subscribe(c, h)
  }
}

function recordingLog (): { lines: string[], warn: (o: object, m: string) => void, info: (o: object, m: string) => void } {
  const lines: string[] = []
  return { lines, warn: (_o, m) => { lines.push(`warn: ${m}`) }, info: (_o, m) => { lines.push(`info: ${m}`) } }
}

function seededFill (seed: number): (buf: Uint8Array) => void {
  const r = mulberry32(seed)
  return (buf) => { for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(r() * 256) }
}

const keys = createKeys('t')

function cookieConfig (o: Partial<StickyConfig> = {}): StickyConfig {
  return { mode: 'cookie', name: 'SWY', ttl: TTL, secure: false, httpOnly: true, sameSite: 'lax', path: '/', ...o }
}

interface Worker { sticky: Sticky, log: ReturnType<typeof recordingLog>, targets: Target[] }

function worker (flaky: Flaky, clock: Clock, config: StickyConfig, seed: number, targets = makeTargets([1, 1, 1])): Worker {
  const log = recordingLog()
  const sticky = createSticky({
    config,
    strategy: createStrategy('round-robin', targets, { random: Math.random }),
    targets,
    state: flaky.state,
    key: (id) => keys.key('sticky', `web|${id}`),
    channel: keys.channel('sticky:web'),
    now: clock.now,
    log,
    randomFill: seededFill(seed),
    retryMs: 1000,
    warnEveryMs: 10_000
  })
  return { sticky, log, targets }
}

function exchange (cookie?: string): Exchange {
  return new Exchange({
    method: 'GET',
    path: '/',
    query: '',
    host: 'h',
    headers: cookie === undefined ? [] : ['cookie', cookie],
    contentLength: -1,
    contentLengthCount: 0,
    chunked: false,
    peerIp: '192.0.2.1',
    tls: false,
    startTime: 0,
    body: null,
    downstream: { start () {}, write: () => true, end () {}, abort () {}, reply () {}, onDrain: null },
    replies: { reply (ex, code) { ex.errorCode = code }, fault () {} },
    onComplete () {}
  })
}

interface Sent { ex: Exchange, verdict: 'sync' | 'async', setCookie: string[] }

/** One request through the sticky stage, then a response from `answeredBy` (default: the target the stage chose). */
async function send (w: Worker, cookie?: string, answeredBy?: (ex: Exchange) => Target, raw: Buffer[] = []): Promise<Sent> {
  const ex = exchange(cookie)
  const v = w.sticky.stage.run(ex)
  const verdict = typeof v === 'number' ? 'sync' : 'async'
  assert.equal(await v as Verdict, NEXT)
  if (answeredBy !== undefined) ex.target = answeredBy(ex)
  const filter = w.sticky.filter((_raw: readonly Buffer[], _id: string) => ({ headers: [] as Array<string | Uint8Array>, length: -1 }))
  const head = filter(raw, ex.requestId, ex)
  const setCookie: string[] = []
  for (let i = 0; i < head.headers.length; i += 2) if (head.headers[i] === 'set-cookie') setCookie.push(String(head.headers[i + 1]))
  return { ex, verdict, setCookie }
}

function idOf (setCookie: string): string {
  return /^SWY=([^;]*)/.exec(setCookie)![1]!
}

const tick = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

test('minted ids are opaque, URL-safe, and hash to the server they were issued for', () => {
  const clock = new Clock()
  const w = worker(new Flaky(clock.now), clock, cookieConfig(), 1, makeTargets([1, 2, 5]))
  for (const t of w.targets) {
    for (let i = 0; i < 20; i++) {
      const id = w.sticky.table.mint(t)
      assert.match(id, /^[A-Za-z0-9_-]{22}$/)
      assert.equal(w.sticky.table.pickFor(id), t)
    }
  }
  assert.equal(w.sticky.table.mintMisses, 0)
})

test('a first request gets a cookie; follow-ups on either worker reach the same server, from the copy once read', async () => {
  const clock = new Clock()
  const flaky = new Flaky(clock.now)
  const a = worker(flaky, clock, cookieConfig(), 1)
  const b = worker(flaky, clock, cookieConfig(), 2)
  const first = await send(a)
  assert.equal(first.setCookie.length, 1)
  assert.match(first.setCookie[0]!, /^SWY=[A-Za-z0-9_-]{22}; Path=\/; Max-Age=60; HttpOnly; SameSite=Lax$/)
  const id = idOf(first.setCookie[0]!)
  const server = first.ex.target!
  assert.ok(!first.setCookie[0]!.includes('10.0.0'), 'the cookie never names the backend')
  // Nothing stored for a session nobody came back with (a client without a cookie jar costs no write).
  assert.deepEqual(flaky.calls, [])

  // The first follow-up finds no mapping, follows the id's hash to the same server, and stores it.
  const back = await send(a, `SWY=${id}`)
  assert.equal(back.verdict, 'async')
  assert.equal(back.ex.target, server)
  assert.equal(Buffer.from((await flaky.store.get(keys.key('sticky', `web|${id}`)))!).toString(), server.url)
  // a wrote the mapping: its copy is trusted, so its follow-ups are synchronous and write nothing.
  for (let i = 0; i < 5; i++) {
    const r = await send(a, `SWY=${id}`)
    assert.equal(r.verdict, 'sync')
    assert.equal(r.ex.target, a.targets[server.index])
    assert.deepEqual(r.setCookie, [])
  }
  // b reads it once (and renews it then: it cannot know how old it is), then answers from its copy.
  const viaB = await send(b, `SWY=${id}`)
  assert.equal(viaB.verdict, 'async')
  assert.equal(viaB.ex.target, b.targets[server.index])
  assert.equal(viaB.setCookie.length, 1, 'renewal re-sends the cookie (sliding Max-Age)')
  for (let i = 0; i < 5; i++) {
    const r = await send(b, `SWY=${id}`)
    assert.equal(r.verdict, 'sync')
    assert.equal(r.ex.target, b.targets[server.index])
  }
  assert.equal(b.sticky.table.reads, 1)
  assert.deepEqual(flaky.calls.filter((c) => c !== 'get'), ['set', 'set'])
})

test('a mapping that differs from the id\'s hash is what counts, on every worker', async () => {
  const clock = new Clock()
  const flaky = new Flaky(clock.now)
  const a = worker(flaky, clock, cookieConfig(), 1)
  const b = worker(flaky, clock, cookieConfig(), 2)
  const id = 'BBBBBBBBBBBBBBBBBBBBBB'
  const other = a.targets.find((t) => t !== a.sticky.table.pickFor(id))!
  await flaky.store.set(keys.key('sticky', `web|${id}`), Buffer.from(other.url), TTL)
  for (const w of [a, b, a, b]) assert.equal((await send(w, `SWY=${id}`)).ex.target!.index, other.index)
})

test('renewal: at most one state write per session per worker per ttl/2, and the cookie slides with it', async () => {
  const clock = new Clock()
  const flaky = new Flaky(clock.now)
  const a = worker(flaky, clock, cookieConfig(), 1)
  const id = idOf((await send(a)).setCookie[0]!)
  await send(a, `SWY=${id}`) // stores it
  let writes = a.sticky.table.writes
  for (let i = 0; i < 10; i++) {
    clock.advance(TTL / 20)
    await send(a, `SWY=${id}`)
  }
  // 10 × ttl/20 = ttl/2: one re-read and one write in that span.
  assert.equal(a.sticky.table.writes - writes, 1)
  writes = a.sticky.table.writes
  clock.advance(TTL / 2 - 1)
  assert.deepEqual((await send(a, `SWY=${id}`)).setCookie, [])
  assert.equal(a.sticky.table.writes, writes)
  // Idle past ttl: the shared mapping expired, and so did the copy; the id still hashes to its server.
  clock.advance(TTL + 1)
  const late = await send(a, `SWY=${id}`)
  assert.equal(late.ex.target, a.sticky.table.pickFor(id))
  assert.equal(late.setCookie.length, 1)
})

test('a cookie that is not an issued id starts a new session', async () => {
  const clock = new Clock()
  const a = worker(new Flaky(clock.now), clock, cookieConfig({ secure: true, sameSite: 'strict', httpOnly: false, path: '/shop' }), 1)
  const r = await send(a, 'SWY=not-ours; other=1')
  assert.equal(r.ex.sticky, null)
  assert.equal(r.setCookie.length, 1)
  assert.match(r.setCookie[0]!, /^SWY=[A-Za-z0-9_-]{22}; Path=\/shop; Max-Age=60; SameSite=Strict; Secure$/)
})

test('an unhealthy mapped server: the session moves along the ring, and the move reaches the other worker', async () => {
  const clock = new Clock()
  const flaky = new Flaky(clock.now)
  const a = worker(flaky, clock, cookieConfig(), 1)
  const b = worker(flaky, clock, cookieConfig(), 2)
  await tick() // subscriptions
  const first = await send(a)
  const id = idOf(first.setCookie[0]!)
  const s = first.ex.target!.index
  assert.equal((await send(b, `SWY=${id}`)).ex.target!.index, s)

  a.targets[s]!.healthy = false
  const moved = await send(a, `SWY=${id}`)
  const to = moved.ex.target!
  assert.notEqual(to.index, s)
  assert.equal(to, a.sticky.table.pickFor(id))
  assert.equal(moved.setCookie.length, 1)
  assert.equal(a.sticky.table.announced, 1)
  await tick()
  // b still thinks s is healthy, but its copy followed the announcement.
  assert.equal(b.sticky.table.peek(id)?.url, to.url)
  assert.equal((await send(b, `SWY=${id}`)).ex.target!.index, to.index)
  assert.equal(Buffer.from((await flaky.store.get(keys.key('sticky', `web|${id}`)))!).toString(), to.url)
})

test('a failed connection: the retry goes where every worker would move the session, and the map follows the answer', async () => {
  const clock = new Clock()
  const flaky = new Flaky(clock.now)
  const a = worker(flaky, clock, cookieConfig(), 1)
  const b = worker(flaky, clock, cookieConfig(), 2)
  await tick()
  const id = idOf((await send(a)).setCookie[0]!)
  await send(a, `SWY=${id}`)
  await send(b, `SWY=${id}`)
  const ex = exchange(`SWY=${id}`)
  await a.sticky.stage.run(ex)
  const first = ex.target!
  const tried = new Set([first])
  const next = a.sticky.strategy.pick(ex, tried)!
  assert.notEqual(next, first)
  // The other worker, noticing the same failure on its own, picks the same replacement.
  const exB = exchange(`SWY=${id}`)
  await b.sticky.stage.run(exB)
  assert.equal(b.sticky.strategy.pick(exB, new Set([b.targets[first.index]!]))!.index, next.index)
  // The response comes from the replacement: recorded and announced.
  const r = await send(a, `SWY=${id}`, () => next)
  assert.equal(r.setCookie.length, 1)
  await tick()
  assert.equal(b.sticky.table.peek(id)?.url, next.url)
})

test('a request that gives up on an unreachable server (no retry) moves its session for the next request', async () => {
  const clock = new Clock()
  const flaky = new Flaky(clock.now)
  const a = worker(flaky, clock, cookieConfig(), 1)
  const b = worker(flaky, clock, cookieConfig(), 2)
  await tick()
  const id = idOf((await send(a)).setCookie[0]!)
  const s = (await send(a, `SWY=${id}`)).ex.target!
  await send(b, `SWY=${id}`)
  const ex = exchange(`SWY=${id}`)
  await a.sticky.stage.run(ex)
  assert.equal(ex.target, s)
  a.sticky.unreachable(ex, s) // e.g. a POST refused: no retry, the client got a 502
  const to = a.sticky.table.pickFor(id, new Set([s]))!
  await tick()
  assert.equal((await send(a, `SWY=${id}`)).ex.target, to)
  assert.equal((await send(b, `SWY=${id}`)).ex.target!.index, to.index, 'announced')
  // A request without a session has nothing to move.
  const none = exchange()
  await a.sticky.stage.run(none)
  a.sticky.unreachable(none, none.target!)
  assert.equal(a.sticky.table.size, 1)
})

test('a mapping to a server no longer in the config moves the session', async () => {
  const clock = new Clock()
  const flaky = new Flaky(clock.now)
  const a = worker(flaky, clock, cookieConfig(), 1)
  const id = 'AAAAAAAAAAAAAAAAAAAAAA'
  await flaky.store.set(keys.key('sticky', `web|${id}`), Buffer.from('http://10.9.9.9:8080'), TTL)
  const r = await send(a, `SWY=${id}`)
  assert.equal(r.ex.target, a.sticky.table.pickFor(id))
  assert.equal(Buffer.from((await flaky.store.get(keys.key('sticky', `web|${id}`)))!).toString(), r.ex.target!.url)
})

test('state down: no failure, known sessions stay, unknown ids follow their hash, one warning; recovery writes back', async () => {
  const clock = new Clock()
  const flaky = new Flaky(clock.now)
  const a = worker(flaky, clock, cookieConfig(), 1)
  const b = worker(flaky, clock, cookieConfig(), 2)
  const known = await send(a)
  const id = idOf(known.setCookie[0]!)
  const server = known.ex.target!.index

  flaky.down = true
  clock.advance(TTL) // a's copy is no longer trusted: it must ask, and fails
  for (let i = 0; i < 20; i++) {
    clock.advance(100)
    assert.equal((await send(a, `SWY=${id}`)).ex.target!.index, server)
    // b never saw the session: the hash of the id (minted for that server) sends it there.
    const viaB = await send(b, `SWY=${id}`)
    assert.equal(viaB.ex.target!.index, server)
    assert.equal(((viaB.ex.sticky?.flags ?? 0) & FALLBACK) !== 0, true)
  }
  // New sessions still get cookies, minted to hash to their server.
  const fresh = await send(b)
  const freshId = idOf(fresh.setCookie[0]!)
  assert.equal(b.sticky.table.pickFor(freshId), fresh.ex.target)
  assert.equal(a.log.lines.filter((l) => l.startsWith('warn')).length, 1)
  assert.equal(b.log.lines.filter((l) => l.startsWith('warn')).length, 1)
  assert.equal(a.sticky.table.mode, 'local')

  flaky.down = false
  clock.advance(1000)
  await send(a, `SWY=${id}`)
  assert.equal(a.sticky.table.mode, 'shared')
  assert.ok(a.log.lines.some((l) => l.startsWith('info: sticky: shared state is back')))
  // b's session minted during the outage is written by its next request.
  assert.equal(await flaky.store.get(keys.key('sticky', `web|${freshId}`)), undefined)
  await send(b, `SWY=${freshId}`)
  await tick()
  assert.equal(Buffer.from((await flaky.store.get(keys.key('sticky', `web|${freshId}`)))!).toString(), fresh.ex.target!.url)
})

test('a move made while state was down wins over the stale shared value, and is written and announced after', async () => {
  const clock = new Clock()
  const flaky = new Flaky(clock.now)
  const a = worker(flaky, clock, cookieConfig(), 1)
  const b = worker(flaky, clock, cookieConfig(), 2)
  await tick()
  const id = idOf((await send(a)).setCookie[0]!)
  const s = (await send(a, `SWY=${id}`)).ex.target!
  await send(b, `SWY=${id}`)

  flaky.down = true
  clock.advance(TTL) // copies no longer trusted
  a.targets[s.index]!.healthy = false
  const moved = await send(a, `SWY=${id}`)
  const to = moved.ex.target!
  assert.notEqual(to.index, s.index)
  assert.equal(a.sticky.table.peek(id)?.dirty, true)

  flaky.down = false
  a.targets[s.index]!.healthy = true // back, but the session lives on `to` now
  clock.advance(TTL) // past the retry pause, and past trust again: a re-reads state, which still says s
  await flaky.store.set(keys.key('sticky', `web|${id}`), Buffer.from(s.url), TTL) // (renewed meanwhile by another host)
  const after = await send(a, `SWY=${id}`)
  assert.equal(after.ex.target, to)
  assert.equal(after.setCookie.length, 1)
  await tick()
  assert.equal(Buffer.from((await flaky.store.get(keys.key('sticky', `web|${id}`)))!).toString(), to.url)
  assert.equal(b.sticky.table.peek(id)?.url, to.url, 'the delayed move was announced')
})

test('Redis restarted empty: after the outage each copy is read again once, and written back', async () => {
  const clock = new Clock()
  const flaky = new Flaky(clock.now)
  const a = worker(flaky, clock, cookieConfig(), 1)
  const id = idOf((await send(a)).setCookie[0]!)
  const server = (await send(a, `SWY=${id}`)).ex.target!
  const key = keys.key('sticky', `web|${id}`)
  const other = 'CCCCCCCCCCCCCCCCCCCCCC' // a session this worker never saw, to meet the outage
  flaky.down = true
  await send(a, `SWY=${other}`)
  await flaky.store.del(key) // the restarted Redis is empty
  flaky.down = false
  clock.advance(1000)
  await send(a, `SWY=${other}`) // the first state call that succeeds: back in shared mode
  assert.equal(a.sticky.table.mode, 'shared')
  // The copy of id is still within its ttl/2 of trust, but predates the outage: it is read again, and written back.
  const r = await send(a, `SWY=${id}`)
  assert.equal(r.verdict, 'async')
  assert.equal(r.ex.target, server)
  await tick()
  assert.equal(Buffer.from((await flaky.store.get(key))!).toString(), server.url)
  assert.equal((await send(a, `SWY=${id}`)).verdict, 'sync', 'once checked, trusted again')
})

test('concurrent first follow-ups of one session read once and write once', async () => {
  const clock = new Clock()
  const flaky = new Flaky(clock.now)
  const a = worker(flaky, clock, cookieConfig(), 1)
  const id = idOf((await send(a)).setCookie[0]!)
  const all = await Promise.all(Array.from({ length: 8 }, async () => await send(a, `SWY=${id}`)))
  assert.equal(new Set(all.map((r) => r.ex.target)).size, 1)
  assert.deepEqual(flaky.calls, ['get', 'set'])
})

test('learn mode: the backend\'s Set-Cookie maps its session to the server that answered, on every worker', async () => {
  const clock = new Clock()
  const flaky = new Flaky(clock.now)
  const config: StickyConfig = { mode: 'learn', name: 'JSESSIONID', ttl: TTL, secure: false, httpOnly: true, sameSite: 'lax', path: '/' }
  const a = worker(flaky, clock, config, 1)
  const b = worker(flaky, clock, config, 2)
  const login = await send(a, undefined, (ex) => ex.target!, [Buffer.from('Set-Cookie'), Buffer.from('JSESSIONID=abc123; Path=/; HttpOnly')])
  assert.deepEqual(login.setCookie, [], 'learn mode adds no cookie')
  const server = login.ex.target!.index
  for (let i = 0; i < 10; i++) {
    assert.equal((await send(a, 'JSESSIONID=abc123')).ex.target!.index, server)
    assert.equal((await send(b, 'x=1; JSESSIONID=abc123')).ex.target!.index, server)
  }
  // A value the map does not know is balanced normally; whoever answers is recorded (stick on request).
  const unknown = await send(b, 'JSESSIONID=zzz')
  for (let i = 0; i < 5; i++) assert.equal((await send(a, 'JSESSIONID=zzz')).ex.target!.index, unknown.ex.target!.index)
})

test('cache is bounded per worker', async () => {
  const clock = new Clock()
  const flaky = new Flaky(clock.now)
  const targets = makeTargets([1, 1])
  const log = recordingLog()
  const sticky = createSticky({
    config: cookieConfig(),
    strategy: createStrategy('round-robin', targets, { random: Math.random }),
    targets,
    state: flaky.state,
    key: (id) => keys.key('sticky', `web|${id}`),
    channel: keys.channel('sticky:web'),
    now: clock.now,
    log,
    randomFill: seededFill(3),
    maxSessions: 5
  })
  for (let i = 0; i < 50; i++) {
    const w = { sticky, log, targets }
    await send(w, `SWY=${idOf((await send(w)).setCookie[0]!)}`)
  }
  assert.equal(sticky.table.size, 5)
})

const setCookieCases: Array<{ name: string, input: string[], expected: string | undefined }> = [
  { name: 'plain', input: ['Set-Cookie', 'JSESSIONID=abc; Path=/'], expected: 'abc' },
  { name: 'header name in any case, no attributes', input: ['set-cookie', 'JSESSIONID=abc'], expected: 'abc' },
  { name: 'another cookie only', input: ['Set-Cookie', 'JSESSIONIDX=abc', 'Set-Cookie', 'other=JSESSIONID=x'], expected: undefined },
  { name: 'the last of several wins', input: ['Set-Cookie', 'JSESSIONID=one', 'X-Other', 'JSESSIONID=no', 'Set-Cookie', 'JSESSIONID=two; Secure'], expected: 'two' },
  { name: 'deleted with Max-Age=0', input: ['Set-Cookie', 'JSESSIONID=abc; Max-Age=0; Path=/'], expected: undefined },
  { name: 'empty value', input: ['Set-Cookie', 'JSESSIONID=; Path=/'], expected: undefined },
  { name: 'Max-Age=10 is not a deletion', input: ['Set-Cookie', 'JSESSIONID=abc; Max-Age=10'], expected: 'abc' },
  { name: 'no Set-Cookie', input: ['Content-Type', 'text/plain'], expected: undefined }
]
for (const c of setCookieCases) {
  test(`setCookieValue: ${c.name}`, () => {
    assert.equal(setCookieValue(c.input.map((s) => Buffer.from(s)), 'JSESSIONID'), c.expected)
  })
}
