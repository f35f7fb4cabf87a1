// The access line built from a template is the line pino writes for the same fields: same keys, same values, same
// bound fields and level, one JSON line each; client-controlled text is escaped.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { createAccessLog, createIsoClock, hundredths, jsonString } from '../../../src/log/access.ts'
import { Exchange, type Downstream } from '../../../src/pipeline/index.ts'

const sink: Downstream = { onDrain: null, start () {}, write () { return true }, end () {}, abort () {}, reply () {} }

function capture (level = 'info'): { lines: string[], log: pino.Logger } {
  const lines: string[] = []
  const log = pino({ level, base: { role: 'worker', worker: 2 }, timestamp: pino.stdTimeFunctions.isoTime }, { write (s: string) { lines.push(s) } })
  return { lines, log }
}

function exchange (o: { path: string, aborted?: boolean, cache?: string, code?: boolean, query?: string, headers?: string[], trace?: string, ttfb?: number, method?: string, host?: string, peer?: string, protocol?: string, status?: number, attempts?: number }): Exchange {
  const ex = new Exchange({
    method: o.method ?? 'GET', path: o.path, query: o.query ?? '', host: o.host ?? 'a', headers: o.headers ?? [], contentLength: -1, contentLengthCount: 0, chunked: false,
    peerIp: o.peer ?? '192.0.2.7', tls: false, ...(o.protocol === undefined ? {} : { protocol: o.protocol }), startTime: 10, body: null, downstream: sink, replies: { reply () {}, fault () {} }, onComplete: () => {}
  })
  ex.requestId = 'id-1'
  ex.status = o.aborted === true ? 0 : o.status ?? 200
  ex.bytesSent = 42
  ex.attempts = o.attempts ?? 1
  ex.route = { id: '/api', upstream: 'u', stages: [] }
  ex.target = { index: 0, url: 'http://127.0.0.1:9001', weight: 1, inflight: 0, healthy: true }
  if (o.cache !== undefined) ex.cacheStatus = o.cache
  if (o.code === true) ex.errorCode = 'SWY_UPSTREAM_TIMEOUT'
  if (o.trace !== undefined) ex.traceparent = o.trace
  if (o.ttfb !== undefined) ex.upstreamTtfb = o.ttfb
  if (o.aborted === true) ex.clientAborted()
  return ex
}

const cases = [
  { name: 'a plain request', input: { path: '/a' } },
  { name: 'a path needing escapes', input: { path: '/a"b\\c\u0001é' } },
  { name: 'a cache answer with a code', input: { path: '/c', cache: 'HIT', code: true } },
  { name: 'a client that left before any answer', input: { path: '/x', aborted: true } },
  {
    name: 'the combined format\'s fields: query, user agent, referer, traceparent, time to first byte',
    input: { path: '/q', query: 'a=1&b="x"', headers: ['user-agent', 'curl/8 "q"', 'referer', 'https://example.com/'], trace: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', ttfb: 1.23456 }
  },
  {
    name: 'the combined format\'s fields with nothing to escape but the referer',
    input: { path: '/q', query: 'a=1&b=2', headers: ['user-agent', 'curl/8', 'referer', 'https://example.com/"r"'] }
  },
  // A later version may append fields (W3C §3.2.4), and they are the client's text: escaped, unlike version 00's.
  { name: 'a later traceparent version with a field to escape', input: { path: '/t', trace: '01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x"y\\z' } }
]
/** The line pino itself writes for the exchange's fields: what the access line was before it had its own template. */
function pinoLine (ex: Exchange, ms: number): Record<string, unknown> {
  const theirs = capture()
  theirs.log.child({ kind: 'access' }).info({
    reqId: ex.requestId, client: ex.clientIp, method: ex.method, host: ex.host, path: ex.path, query: ex.query === '' ? undefined : ex.query, proto: ex.protocol,
    status: ex.aborted && ex.status === 0 ? 499 : ex.status, bytes: ex.bytesSent,
    // GET /q?a=1&b="x" HTTP/1.1 CRLF, the fields, CRLF.
    requestBytes: `${ex.method} ${ex.path}${ex.query === '' ? '' : `?${ex.query}`} HTTP/1.1\r\n`.length + 2 + ex.headers.reduce((n, s, i) => n + s.length + (i % 2 === 0 ? 2 : 2), 0),
    userAgent: ex.header('user-agent'), referer: ex.header('referer'), traceparent: ex.traceparent === '' ? undefined : ex.traceparent,
    route: ex.route?.id, upstream: ex.target?.url, attempts: ex.attempts, cache: ex.cacheStatus ?? undefined,
    code: ex.errorCode ?? undefined, aborted: ex.aborted || undefined, ttfbMs: ex.upstreamTtfb < 0 ? undefined : Math.round(ex.upstreamTtfb * 100) / 100, ms
  })
  const b = JSON.parse(theirs.lines[0]!) as Record<string, unknown>
  delete b.time
  return b
}

/** Our line, checked to be one JSON line with a time, parsed, without its time. */
function parsed (line: string): Record<string, unknown> {
  assert.ok(line.endsWith('}\n') && !line.slice(0, -1).includes('\n'))
  const a = JSON.parse(line) as Record<string, unknown>
  assert.match(String(a.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  delete a.time
  return a
}

for (const c of cases) {
  test(`access line: ${c.name}`, () => {
    const ours = capture()
    createAccessLog(ours.log)(exchange(c.input), 12.345)
    assert.equal(ours.lines.length, 1)
    assert.deepEqual(parsed(ours.lines[0]!), pinoLine(exchange(c.input), 2.35))
  })
}

test('each line has its own client, method, host, protocol, status and attempts, whatever the line before had', () => {
  const c = capture()
  const logAccess = createAccessLog(c.log)
  // Each step changes one field of the step before (or none), to values that need escaping and back.
  const steps = [
    {}, {}, { peer: '198.51.100.1' }, { peer: '198.51.100.1', method: 'POST' }, { method: 'POST', host: 'b"\\' }, { host: 'b"\\' },
    { protocol: 'h2' }, { protocol: 'h2', status: 404 }, { status: 404 }, { status: 404, attempts: 2 }, { attempts: 2 }, { aborted: true }, {},
    { host: '' }, { method: '' }, { peer: '' }, {}
  ]
  const expected = steps.map((step) => {
    const ex = exchange({ path: '/', ...step })
    logAccess(ex, 11)
    return pinoLine(ex, 1)
  })
  assert.deepEqual(c.lines.map(parsed), expected)
})

test('each line names its own route and server, whichever came before it', () => {
  const c = capture()
  const logAccess = createAccessLog(c.log)
  const routes = [{ id: '/a', upstream: 'u', stages: [] }, { id: '/b"', upstream: 'u', stages: [] }]
  const targets = [0, 1].map((index) => ({ index, url: `http://127.0.0.1:900${index}`, weight: 1, inflight: 0, healthy: true }))
  const order = [[0, 0], [0, 0], [1, 0], [1, 1], [0, 1], [0, 0]] as const
  for (const [r, t] of order) {
    const ex = exchange({ path: '/' })
    ex.route = routes[r]!
    ex.target = targets[t]!
    logAccess(ex, 11)
  }
  assert.deepEqual(c.lines.map((l) => { const o = JSON.parse(l) as { route: string, upstream: string }; return [o.route, o.upstream] }),
    order.map(([r, t]) => [routes[r]!.id, targets[t]!.url]))
})

test('each line has its own millisecond\'s time, and its duration from the end time it is given', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.UTC(2026, 11, 31, 23, 59, 59, 998) })
  const c = capture()
  const logAccess = createAccessLog(c.log)
  const expected: Array<[string, number]> = []
  for (const step of [0, 0, 1, 1, 0, 5, 1000]) {
    t.mock.timers.tick(step)
    logAccess(exchange({ path: '/' }), 10 + step / 4) // startTime 10
    expected.push([new Date(Date.now()).toISOString(), Math.round(step / 4 * 100) / 100])
  }
  assert.deepEqual(c.lines.map((l) => { const o = JSON.parse(l) as { time: string, ms: number }; return [o.time, o.ms] }), expected)
})

test('no access line below info', () => {
  const c = capture('warn')
  createAccessLog(c.log)(exchange({ path: '/a' }), 0)
  assert.deepEqual(c.lines, [])
})

test('hundredths prints what String(Math.round(x * 100) / 100) prints', () => {
  const xs = [0, 0.001, 0.004999, 0.005, 0.01, 0.1, 0.5, 1, 1.005, 1.1, 1.23456, 9.995, 10, 99.99, 100, 12345.678, 2 ** 31 / 100 + 0.37, 1e9 + 0.5, 1e15]
  for (let i = 0; i < 20_000; i++) xs.push(Math.random() * 10 ** Math.floor(Math.random() * 9))
  for (const x of xs) assert.equal(hundredths(x), String(Math.round(x * 100) / 100), `x = ${x}`)
  // Outside what the table covers (negative, not finite): the plain conversion.
  for (const x of [-1.234, -0.001, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(hundredths(x), String(Math.round(x * 100) / 100))
})

test('the access line\'s clock prints what toISOString prints, across seconds, days and years', () => {
  const time = createIsoClock()
  const ms = [0, 999, 1000, 1001, Date.UTC(2026, 11, 31, 23, 59, 59, 999), Date.UTC(2027, 0, 1), Date.now()]
  let t = Date.UTC(2026, 11, 6, 23, 59, 58, 0)
  for (let i = 0; i < 5000; i++) { t += Math.floor(Math.random() * 3); ms.push(t) }
  for (let i = 0; i < 5000; i++) ms.push(Math.floor(Math.random() * 4e12))
  for (const m of ms) assert.equal(time(m), new Date(m).toISOString(), `ms = ${m}`)
})

test('jsonString is JSON.stringify for every string: escapes, controls, DEL, non-ASCII, pairs and lone surrogates', () => {
  const fixed = ['', 'a', '/a"b', 'back\\slash', 'tab\t', '\u0000', '\u001f', '\u007f', 'é', '日本', '😀', '\ud83d', '\ude00x', 'x\ud83d\ude00y', '</script>', "it's"]
  for (const v of fixed) assert.equal(jsonString(v), JSON.stringify(v), JSON.stringify(v))
  // Every code unit alone, and random strings over the whole range.
  for (let c = 0; c <= 0xffff; c++) { const v = `a${String.fromCharCode(c)}b`; assert.equal(jsonString(v), JSON.stringify(v), `U+${c.toString(16)}`) }
  for (let i = 0; i < 5000; i++) {
    const v = String.fromCharCode(...Array.from({ length: 1 + Math.floor(Math.random() * 12) }, () => Math.random() < 0.8 ? 32 + Math.floor(Math.random() * 95) : Math.floor(Math.random() * 0x10000)))
    assert.equal(jsonString(v), JSON.stringify(v))
  }
})
