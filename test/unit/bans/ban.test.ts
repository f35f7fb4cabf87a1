// The ban table on an injected clock, the ban check stage on real Exchanges with a recording downstream, and the
// sync with shared state: publish/subscribe between two workers, reading the set at start, and faults.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { BanTable, createBanCheck, createBanSync, formatBan, parseBan } from '../../../src/bans/index.ts'
import { Exchange, DONE, NEXT, type Downstream, type LocalReplies } from '../../../src/pipeline/index.ts'
import { EmbeddedStore, StateUnavailableError, type SharedState } from '../../../src/state/index.ts'
import { waitFor } from '../../helpers/index.ts'

class Clock {
  t = 1_700_000_000_000
  readonly now = (): number => this.t
}

function recordingLog (): { lines: string[], warn (o: object, m: string): void, info (o: object, m: string): void } {
  const lines: string[] = []
  return { lines, warn: (_o, m) => { lines.push(`warn: ${m}`) }, info: (_o, m) => { lines.push(`info: ${m}`) } }
}

interface Answer { status: number, headers: readonly string[], aborted: boolean }

function exchange (o: { ip?: string, headers?: string[] } = {}): { ex: Exchange, answer: Answer } {
  const answer: Answer = { status: 0, headers: [], aborted: false }
  const downstream: Downstream = {
    start () {},
    write () { return true },
    end () {},
    abort () { answer.aborted = true; ex.clientAborted() },
    reply (status, headers) { answer.status = status; answer.headers = headers; ex.completed() },
    onDrain: null
  }
  const replies: LocalReplies = {
    reply (e, code, close, extra) { e.status = code === 'SWY_BANNED' ? 403 : 500; e.downstream.reply(e.status, extra ?? [], '', close) },
    fault () {}
  }
  const ex = new Exchange({
    method: 'GET', path: '/', query: '', host: 'h', headers: o.headers ?? [], contentLength: -1, contentLengthCount: 0, chunked: false,
    peerIp: o.ip ?? '10.0.0.1', tls: false, startTime: 0, body: null, downstream, replies, onComplete () {}
  })
  return { ex, answer }
}

test('ban names round-trip, values may contain spaces, malformed names are refused', () => {
  assert.equal(formatBan(403, 'ip', '::1'), '403 ip ::1')
  assert.deepEqual(parseBan(formatBan('close', 'header:x-user', 'al ice')), { action: 'close', kind: 'header:x-user', value: 'al ice' })
  assert.equal(parseBan('drop ip 1.2.3.4'), undefined)
  assert.equal(parseBan('403 ip'), undefined)
})

test('the table: bans expire on the clock, a later expiry extends, an earlier one does not shorten, close sticks', () => {
  const c = new Clock()
  const t = new BanTable({ now: c.now })
  assert.equal(t.add('403 ip 10.0.0.7', c.t + 1000), true)
  assert.equal(t.add('403 ip 10.0.0.8', c.t - 1), false, 'an expired ban is not added')
  assert.equal(t.add('bogus', c.t + 1000), false)
  const ips = t.kind('ip')
  assert.equal(t.remainingMs(ips, '10.0.0.7'), 1000)
  t.add('403 ip 10.0.0.7', c.t + 500)
  assert.equal(t.remainingMs(ips, '10.0.0.7'), 1000)
  t.add('close ip 10.0.0.7', c.t + 2000)
  assert.equal(t.remainingMs(ips, '10.0.0.7'), 2000)
  assert.equal(ips.get('10.0.0.7')?.close, true)
  c.t += 1999
  assert.equal(t.remainingMs(ips, '10.0.0.7'), 1)
  c.t += 1
  assert.equal(t.remainingMs(ips, '10.0.0.7'), 0)
  assert.equal(t.size, 0, 'dropped once found expired')
  t.add('403 ip 1.1.1.1', c.t + 10)
  t.add('403 cookie:sid abc', c.t + 20)
  c.t += 15
  assert.equal(t.sweep(), 1)
  assert.equal(t.get('403 cookie:sid abc')?.expiresAtMs, c.t + 5)
})

test('the table is bounded: past maxBans the oldest ban of the kind goes', () => {
  const c = new Clock()
  const t = new BanTable({ now: c.now, maxBans: 3 })
  for (let i = 1; i <= 4; i++) t.add(`403 ip 10.0.0.${i}`, c.t + 60_000)
  assert.equal(t.size, 3)
  assert.equal(t.get('403 ip 10.0.0.1'), undefined)
  assert.ok(t.get('403 ip 10.0.0.4') !== undefined)
})

test('the check: 403 SWY_BANNED with Retry-After in whole seconds left; close cuts without an answer; others pass', () => {
  const c = new Clock()
  const table = new BanTable({ now: c.now })
  const stage = createBanCheck({ table, kinds: ['ip', 'header:x-user', 'cookie:sid'] })
  const cases: Array<{ name: string, ip?: string, headers?: string[], expected: { verdict: number, status: number, retry?: string, aborted?: boolean } }> = [
    { name: 'unbanned address passes', ip: '10.0.0.2', expected: { verdict: NEXT, status: 0 } },
    { name: 'banned address: 403', ip: '10.0.0.1', expected: { verdict: DONE, status: 403, retry: '2' } },
    { name: 'banned header value: 403', headers: ['x-user', 'mallory'], ip: '10.0.0.2', expected: { verdict: DONE, status: 403, retry: '60' } },
    { name: 'banned cookie value, action close', headers: ['cookie', 'a=1; sid=s3'], ip: '10.0.0.2', expected: { verdict: DONE, status: 0, aborted: true } },
    { name: 'another header value passes', headers: ['x-user', 'alice'], ip: '10.0.0.2', expected: { verdict: NEXT, status: 0 } }
  ]
  table.add('403 ip 10.0.0.1', c.t + 1500)
  table.add('403 header:x-user mallory', c.t + 60_000)
  table.add('close cookie:sid s3', c.t + 60_000)
  for (const k of cases) {
    const { ex, answer } = exchange({ ...(k.ip === undefined ? {} : { ip: k.ip }), ...(k.headers === undefined ? {} : { headers: k.headers }) })
    const v = stage.run(ex)
    assert.equal(v, k.expected.verdict, k.name)
    assert.equal(answer.status, k.expected.status, k.name)
    if (k.expected.retry !== undefined) assert.deepEqual(answer.headers, ['retry-after', k.expected.retry], k.name)
    assert.equal(answer.aborted, k.expected.aborted ?? false, k.name)
    if (k.expected.aborted === true) assert.equal(ex.errorCode, 'SWY_BANNED')
  }
  c.t += 1500
  assert.equal(stage.run(exchange({ ip: '10.0.0.1' }).ex), NEXT, 'the ban has expired')
})

test('the check reads only the kinds it was built with', () => {
  const c = new Clock()
  const table = new BanTable({ now: c.now })
  table.add('403 header:x-other v', c.t + 60_000)
  const stage = createBanCheck({ table, kinds: ['ip'] })
  assert.equal(stage.run(exchange({ headers: ['x-other', 'v'] }).ex), NEXT)
})

test('sync: a ban made on one worker reaches another at once, and a worker that starts later reads it from the set', async (t) => {
  const store = new EmbeddedStore({ sweepMs: 0 })
  t.after(() => store.close())
  const o = { state: store, listKey: '{t:bans:active}', versionKey: '{t:bans:active}:v', channel: 't:bans', now: Date.now, tickMs: 0 }
  const a = createBanSync({ ...o, table: new BanTable({ now: Date.now }), log: recordingLog() })
  const bTable = new BanTable({ now: Date.now })
  const b = createBanSync({ ...o, table: bTable, log: recordingLog() })
  await a.start()
  await b.start()
  t.after(async () => { await a.close(); await b.close() })
  a.ban('403 ip 10.0.0.9', Date.now() + 60_000)
  await waitFor(() => bTable.get('403 ip 10.0.0.9') !== undefined, 'the ban on worker b', 2000, 5)
  const lateTable = new BanTable({ now: Date.now })
  const late = createBanSync({ ...o, table: lateTable, log: recordingLog() })
  await late.start()
  t.after(() => late.close())
  assert.ok(lateTable.get('403 ip 10.0.0.9') !== undefined, 'read at start')
})

test('sync with state down: the local ban holds, one warning, and once state is back the ban is written and re-read', async (t) => {
  const store = new EmbeddedStore({ sweepMs: 0 })
  t.after(() => store.close())
  let down = false
  const fail = async (): Promise<never> => { throw new StateUnavailableError('down') }
  const flaky: Pick<SharedState, 'addExpiring' | 'listExpiring' | 'publish' | 'subscribe' | 'incr' | 'get'> = {
    incr: async (...a) => down ? await fail() : await store.incr(...a),
    get: async (...a) => down ? await fail() : await store.get(...a),
    addExpiring: async (...a) => down ? await fail() : await store.addExpiring(...a),
    listExpiring: async (...a) => down ? await fail() : await store.listExpiring(...a),
    publish: async (...a) => down ? await fail() : await store.publish(...a),
    subscribe: async (...a) => down ? await fail() : await store.subscribe(...a)
  }
  const log = recordingLog()
  const table = new BanTable({ now: Date.now })
  const s = createBanSync({ state: flaky, table, listKey: '{t:b}', versionKey: '{t:b}:v', channel: 't:b', now: Date.now, log, tickMs: 0, resyncMs: 60_000 })
  t.after(() => s.close())
  down = true
  await s.start()
  assert.equal(s.degraded, true)
  s.ban('403 ip 10.0.0.5', Date.now() + 60_000)
  s.ban('403 ip 10.0.0.6', Date.now() + 60_000)
  await s.tick()
  assert.ok(table.get('403 ip 10.0.0.5') !== undefined, 'enforced locally')
  assert.equal(log.lines.filter((l) => l.startsWith('warn')).length, 1, 'one warning per interval')
  // Another worker banned someone meanwhile; this one missed the message.
  await store.addExpiring('{t:b}', '403 ip 10.0.0.7', Date.now() + 60_000, Date.now())
  down = false
  await s.tick()
  assert.equal(s.degraded, false)
  assert.ok(table.get('403 ip 10.0.0.7') !== undefined, 're-read after the fault')
  assert.deepEqual((await store.listExpiring('{t:b}', Date.now())).map((m) => m.member).sort(), ['403 ip 10.0.0.5', '403 ip 10.0.0.6', '403 ip 10.0.0.7'])
  assert.ok(log.lines.some((l) => l.startsWith('info: bans: shared state is back')))
})

test('sync: a ban whose message was missed is read on the next tick, because the version moved', async (t) => {
  const store = new EmbeddedStore({ sweepMs: 0 })
  t.after(() => store.close())
  let reads = 0
  const counting: Pick<SharedState, 'addExpiring' | 'listExpiring' | 'publish' | 'subscribe' | 'incr' | 'get'> = {
    addExpiring: async (...a) => await store.addExpiring(...a),
    listExpiring: async (...a) => { reads++; return await store.listExpiring(...a) },
    publish: async () => {}, // the message is lost
    subscribe: async (...a) => await store.subscribe(...a),
    incr: async (...a) => await store.incr(...a),
    get: async (...a) => await store.get(...a)
  }
  const o = { state: counting, listKey: '{t:v}', versionKey: '{t:v}:v', channel: 't:v', now: Date.now, tickMs: 0, resyncMs: 60_000, log: recordingLog() }
  const a = createBanSync({ ...o, table: new BanTable({ now: Date.now }) })
  const bTable = new BanTable({ now: Date.now })
  const b = createBanSync({ ...o, table: bTable })
  await a.start()
  await b.start()
  t.after(async () => { await a.close(); await b.close() })
  const before = reads
  await b.tick()
  assert.equal(reads, before, 'nothing changed: the set is not read again')
  a.ban('403 ip 10.0.0.9', Date.now() + 60_000)
  await waitFor(async () => (await store.listExpiring('{t:v}', Date.now())).length === 1, 'the write', 2000, 5)
  await waitFor(async () => await store.get('{t:v}:v') !== undefined, 'the version bump', 2000, 5)
  assert.equal(bTable.get('403 ip 10.0.0.9'), undefined, 'the message was lost')
  await b.tick()
  assert.ok(bTable.get('403 ip 10.0.0.9') !== undefined, 'read on the next tick')
})
