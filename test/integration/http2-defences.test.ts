// HTTP/2 defences of the node engine, spoken in raw frames to an h2c listener (test/helpers/h2frames.ts): the SETTINGS
// it announces, rapid reset (CVE-2023-44487), CONTINUATION floods (CVE-2024-27316), the concurrent-stream bound, the
// header-list bound, flow control, and SETTINGS and PING floods. One worker, so "the worker survived" means the same
// pid is still the only worker and answers a fresh HTTP/2 request with 200 afterwards.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as h2connect } from 'node:http2'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { startBackend, startProxy, freePort, waitFor, rssOf, type ProxyHandle } from '../helpers/index.ts'
import {
  H2Client, FRAME, FLAG, SETTING, ERROR, errorName, errorCodeOf, lastStreamOf, frame, settingsFrame, pingFrame,
  headersFrame, headerBlock, requestFields, rstStreamFrame, windowUpdateFrame, type Frame
} from '../helpers/h2frames.ts'

type Ctx = Parameters<typeof startProxy>[0]

interface Setup {
  readonly proxy: ProxyHandle
  readonly pid: number
  readonly authority: string
  /** Requests the backend received. */
  readonly seen: { count: number }
  /** Responses held by /hold, released by release(). */
  readonly held: ServerResponse[]
  /** Bytes /big wrote into its socket so far (it writes only when the socket drained). */
  readonly big: { written: number, done: boolean }
}

/**
 * A backend with /hold (answers when released), /big?n=BYTES (streams n bytes, honouring backpressure) and anything
 * else (200 "ok"), behind one worker listening with h2c.
 */
async function setup (t: Ctx, http2: Record<string, unknown> = {}, limits: Record<string, unknown> = {}): Promise<Setup> {
  const seen = { count: 0 }
  const held: ServerResponse[] = []
  const big = { written: 0, done: false }
  t.after(() => { for (const r of held) r.destroy() })
  const backend = await startBackend(t, (req: IncomingMessage, res: ServerResponse) => {
    seen.count++
    req.resume()
    const url = new URL(req.url!, 'http://x')
    if (url.pathname === '/hold') { held.push(res); return }
    if (url.pathname === '/big') {
      const n = Number(url.searchParams.get('n'))
      res.writeHead(200, { 'content-length': String(n), 'content-type': 'application/octet-stream' })
      const chunk = Buffer.alloc(64 * 1024, 0x61)
      const pump = (): void => {
        while (big.written < n) {
          const c = chunk.subarray(0, Math.min(chunk.length, n - big.written))
          big.written += c.length
          if (!res.write(c)) { res.once('drain', pump); return }
        }
        big.done = true
        res.end()
      }
      res.on('close', () => { res.removeAllListeners('drain') })
      pump()
      return
    }
    res.end('ok')
  })
  const port = await freePort()
  const proxy = await startProxy(t, {
    listen: [{ host: '127.0.0.1', port, h2c: true }],
    upstreams: { a: { servers: [{ url: backend.url }] } },
    routes: [{ upstream: 'a' }],
    http2,
    limits
  })
  t.after(() => { for (const l of proxy.logs) if (Number(l.level) >= 50) console.error('PROXYLOG', JSON.stringify(l).slice(0, 1500)) })
  const [pid] = await waitFor(() => { const p = proxy.workerPids(); return p.length === 1 && p }, 'one worker')
  return { proxy, pid: pid!, authority: `127.0.0.1:${proxy.port}`, seen, held, big }
}

/** A fresh HTTP/2 connection (node's client) gets 200 from the same, only worker. */
async function survives (s: Setup): Promise<void> {
  assert.deepEqual(s.proxy.workerPids(), [s.pid], 'the worker was replaced')
  const session = h2connect(`http://${s.authority}`)
  session.on('error', () => {})
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('no answer to a fresh HTTP/2 request in 10 s')) }, 10_000)
      const req = session.request({ ':path': '/after' })
      req.on('response', (h) => { clearTimeout(timer); resolve(Number(h[':status'])) })
      req.on('error', (e) => { clearTimeout(timer); reject(e) })
      req.resume()
      req.end()
    })
    assert.equal(status, 200)
  } finally {
    session.destroy()
  }
  assert.deepEqual(s.proxy.workerPids(), [s.pid], 'the worker was replaced')
}

const goawayOf = (c: H2Client): Frame | undefined => c.frames.find((f) => f.type === FRAME.GOAWAY)
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

const dataOn = (c: H2Client, stream: number): number => c.frames.reduce((n, f) => f.type === FRAME.DATA && f.stream === stream ? n + f.payload.length : n, 0)
const framesOf = (c: H2Client, type: number, stream?: number): Frame[] => c.frames.filter((f) => f.type === type && (stream === undefined || f.stream === stream))

test('a. the SETTINGS a connection gets are the config\'s', async (t) => {
  const s = await setup(t, { max_concurrent_streams: 7, initial_window_size: '96kb', max_frame_size: '32kb' }, { max_header_size: '8kb', max_headers: 40 })
  const c = await H2Client.connect(s.proxy.port)
  t.after(() => { c.destroy() })
  const settings = await c.ready()
  t.diagnostic(`server SETTINGS: ${JSON.stringify([...settings])}`)
  assert.equal(settings.get(SETTING.MAX_CONCURRENT_STREAMS), 7)
  assert.equal(settings.get(SETTING.INITIAL_WINDOW_SIZE), 96 * 1024)
  assert.equal(settings.get(SETTING.MAX_FRAME_SIZE), 32 * 1024)
  // limits.max_header_size plus 32 per field (RFC 9113 §6.5.2 counts 32 bytes of overhead per field).
  assert.equal(settings.get(SETTING.MAX_HEADER_LIST_SIZE), 8 * 1024 + 32 * 40)
  assert.equal(settings.get(SETTING.ENABLE_PUSH), 0)
  await survives(s)
})

/**
 * Frames the client writes at once and then stops: the server must close the connection itself. All of it fits the
 * kernel's buffers, so no write of ours fails when the server cuts (a failed write destroys the socket before the
 * GOAWAY that came ahead of the reset is read).
 */
async function blast (s: Setup, frames: Buffer[], what: string): Promise<H2Client> {
  const c = await H2Client.connect(s.proxy.port)
  await c.ready()
  c.send(Buffer.concat(frames))
  await c.waitClosed(`the server to close the connection of the ${what}`)
  return c
}

/** HEADERS (END_STREAM) then RST_STREAM(CANCEL) on `n` new streams. */
async function rapidReset (s: Setup, n: number): Promise<H2Client> {
  const frames: Buffer[] = []
  for (let id = 1; id < 2 * n; id += 2) frames.push(headersFrame(id, headerBlock(requestFields(s.authority, `/r${id}`))), rstStreamFrame(id, ERROR.CANCEL))
  return await blast(s, frames, 'rapid reset')
}

test('b. rapid reset (CVE-2023-44487): GOAWAY and the connection closed, the backend saw a bounded number', async (t) => {
  const s = await setup(t)
  const opened = 3000
  const c = await rapidReset(s, opened)
  const g = goawayOf(c)
  t.diagnostic(`streams opened ${opened}, backend saw ${s.seen.count}, ${c.describe()}, GOAWAY ${g === undefined ? 'not seen' : `${errorName(errorCodeOf(g))} last stream ${lastStreamOf(g)}`}`)
  assert.ok(g !== undefined, 'a GOAWAY before the close')
  // Switchyard's budget (reset-budget.ts) or nghttp2's own, whichever noticed first: both cut at about 1000 resets.
  assert.ok([ERROR.ENHANCE_YOUR_CALM, ERROR.INTERNAL_ERROR].includes(errorCodeOf(g) as 11 | 2), errorName(errorCodeOf(g)))
  assert.ok(lastStreamOf(g) <= 2 * 1100, `last stream ${lastStreamOf(g)}`)
  assert.ok(s.seen.count <= 1100, `the backend saw ${s.seen.count} requests`)
  await survives(s)
})

test('b. rapid reset: http2.reset_burst and reset_rate set the budget', async (t) => {
  const s = await setup(t, { reset_burst: 100, reset_rate: 10 })
  const opened = 1000
  const c = await rapidReset(s, opened)
  const g = goawayOf(c)
  t.diagnostic(`streams opened ${opened}, backend saw ${s.seen.count}, ${c.describe()}, GOAWAY ${g === undefined ? 'not seen' : `${errorName(errorCodeOf(g))} last stream ${lastStreamOf(g)}`}`)
  assert.ok(g !== undefined, 'a GOAWAY before the close')
  // Ours is ENHANCE_YOUR_CALM. Node 23+ hands the same budget to nghttp2, which trips while it parses the burst,
  // before any stream's close reaches JS: its GOAWAY says INTERNAL_ERROR (seen on Node 24.22).
  assert.ok([ERROR.ENHANCE_YOUR_CALM, ERROR.INTERNAL_ERROR].includes(errorCodeOf(g) as 11 | 2), errorName(errorCodeOf(g)))
  // 90 tokens (burst less one second's rate), 10 more per second: far below nghttp2's own 1000.
  assert.ok(lastStreamOf(g) <= 2 * 300, `last stream ${lastStreamOf(g)}`)
  assert.ok(s.seen.count <= 300, `the backend saw ${s.seen.count} requests`)
  await survives(s)
})

test('c. CONTINUATION flood (CVE-2024-27316): cut after a bounded number of frames', async (t) => {
  const s = await setup(t)
  const rss = rssOf(s.pid)
  // Eight CONTINUATION frames are allowed (nghttp2 1.61's limit per header block): no answer yet, the block is open.
  const open = await H2Client.connect(s.proxy.port)
  t.after(() => { open.destroy() })
  await open.ready()
  open.send(headersFrame(1, headerBlock(requestFields(s.authority, '/c')), { endHeaders: false }))
  for (let i = 0; i < 8; i++) open.send(frame(FRAME.CONTINUATION, 0, 1, headerBlock([[`x-junk-${i}`, 'y']])))
  // Two hundred CONTINUATION frames of 1 kB junk fields, which no limit of the proxy's own stops.
  const frames = [headersFrame(1, headerBlock(requestFields(s.authority, '/c')), { endHeaders: false })]
  for (let i = 0; i < 200; i++) frames.push(frame(FRAME.CONTINUATION, 0, 1, headerBlock([[`x-junk-${i}`, 'y'.repeat(1000)]])))
  const c = await blast(s, frames, 'CONTINUATION flood')
  const sent = frames.length - 1
  const g = goawayOf(c)
  t.diagnostic(`CONTINUATION frames ${sent} (${c.sent} bytes), ${c.describe()}, GOAWAY ${g === undefined ? 'not seen' : errorName(errorCodeOf(g))}, worker RSS ${rss} → ${rssOf(s.pid)}`)
  assert.ok(g !== undefined, 'a GOAWAY before the close')
  assert.equal(errorCodeOf(g), ERROR.INTERNAL_ERROR)
  assert.equal(open.ended, false, 'eight CONTINUATION frames are not a flood')
  assert.ok(rssOf(s.pid) - rss < 64 * 1024 * 1024, 'worker RSS stayed bounded')
  // The ninth CONTINUATION on the open block: GOAWAY, closed.
  open.send(frame(FRAME.CONTINUATION, 0, 1, headerBlock([['x-junk-9', 'y']])))
  await open.waitClosed('the server to close after the ninth CONTINUATION')
  const g9 = goawayOf(open)
  t.diagnostic(`ninth CONTINUATION: ${open.describe()}, GOAWAY ${g9 === undefined ? 'not seen' : errorName(errorCodeOf(g9))}`)
  assert.ok(g9 !== undefined, 'a GOAWAY before the close')
  assert.equal(errorCodeOf(g9), ERROR.INTERNAL_ERROR)
  await survives(s)
})

test('d. streams past max_concurrent_streams: REFUSED_STREAM until the client ACKs the SETTINGS, then GOAWAY', async (t) => {
  const s = await setup(t, { max_concurrent_streams: 4 })
  // Streams sent before the client acknowledged the server's SETTINGS (its first round trip): nghttp2 refuses the
  // excess with RST_STREAM REFUSED_STREAM, which a client retries, and the connection stays.
  const early = await H2Client.connect(s.proxy.port, { ackSettings: false })
  t.after(() => { early.destroy() })
  for (let id = 1; id <= 19; id += 2) early.send(headersFrame(id, headerBlock(requestFields(s.authority, '/hold'))))
  await waitFor(() => framesOf(early, FRAME.RST_STREAM).length >= 6 || early.ended, 'six RST_STREAM')
  await waitFor(() => s.held.length >= 4, 'four requests held by the backend')
  const rst = framesOf(early, FRAME.RST_STREAM)
  t.diagnostic(`before the ACK: ${early.describe()}; RST_STREAM ${rst.map((f) => `${f.stream} ${errorName(errorCodeOf(f))}`).join(', ')}; backend holds ${s.held.length}`)
  assert.deepEqual(rst.map((f) => f.stream), [9, 11, 13, 15, 17, 19])
  assert.ok(rst.every((f) => errorCodeOf(f) === ERROR.REFUSED_STREAM))
  for (const r of s.held.splice(0)) r.end('released')
  await waitFor(() => framesOf(early, FRAME.DATA).filter((f) => (f.flags & FLAG.END_STREAM) !== 0).length === 4, 'the four answers')
  assert.equal(s.seen.count, 4, 'the refused streams never reached the backend')
  early.send(headersFrame(21, headerBlock(requestFields(s.authority, '/next'))))
  await early.waitFrame((f) => f.type === FRAME.HEADERS && f.stream === 21, 'an answer on stream 21')
  assert.equal(goawayOf(early), undefined)

  // Once the client has acknowledged the limit, nghttp2 treats a stream past it as a connection error (RFC 9113
  // §5.1.2 allows either): node ends the session with GOAWAY INTERNAL_ERROR (Node 20) or PROTOCOL_ERROR (Node 24's
  // nghttp2) and resets the streams it had open.
  const late = await H2Client.connect(s.proxy.port)
  t.after(() => { late.destroy() })
  await late.ready()
  for (let id = 1; id <= 9; id += 2) late.send(headersFrame(id, headerBlock(requestFields(s.authority, '/hold'))))
  await late.waitClosed('the server to close the connection past the acknowledged limit')
  const g = goawayOf(late)
  t.diagnostic(`after the ACK: ${late.describe()}; GOAWAY ${g === undefined ? 'not seen' : errorName(errorCodeOf(g))}; RST_STREAM ${framesOf(late, FRAME.RST_STREAM).map((f) => `${f.stream} ${errorName(errorCodeOf(f))}`).join(', ')}`)
  assert.ok(g !== undefined, 'a GOAWAY before the close')
  assert.ok([ERROR.INTERNAL_ERROR, ERROR.PROTOCOL_ERROR].includes(errorCodeOf(g) as 2 | 1), errorName(errorCodeOf(g)))
  assert.ok(s.seen.count <= 5 + 4, `the backend saw ${s.seen.count} requests`)
  await survives(s)
})

test('e. header lists: over limits.max_header_size 431, over the field count or the HTTP/2 list size RST_STREAM; the connection stays', async (t) => {
  const s = await setup(t, {}, { max_header_size: '8kb', max_headers: 40 })
  const c = await H2Client.connect(s.proxy.port)
  t.after(() => { c.destroy() })
  await c.ready()
  // 9000 bytes: within SETTINGS_MAX_HEADER_LIST_SIZE (9472), over max_header_size: the guard answers 431.
  c.send(headersFrame(1, headerBlock(requestFields(s.authority, '/big-field', [['x-big', 'v'.repeat(9000)]]))))
  const h1 = await c.waitFrame((f) => f.type === FRAME.HEADERS && f.stream === 1, 'an answer on stream 1')
  // nghttp2 sends :status 431 as a literal with the static table's :status name (index 8): 0x48, length 3, "431".
  assert.ok(h1!.payload.includes(Buffer.from('431')), `stream 1 answered ${h1!.payload.toString('latin1')}`)
  // 50 fields (46 plus 4 pseudo-headers) over maxHeaderListPairs (40 + 8): node resets the stream.
  c.send(headersFrame(3, headerBlock(requestFields(s.authority, '/many', Array.from({ length: 46 }, (_, i) => [`x-h${i}`, 'v'] as const)))))
  const r3 = await c.waitFrame((f) => f.type === FRAME.RST_STREAM && f.stream === 3, 'RST_STREAM on stream 3')
  assert.equal(errorName(errorCodeOf(r3!)), 'ENHANCE_YOUR_CALM')
  c.send(headersFrame(5, headerBlock(requestFields(s.authority, '/ok'))))
  await c.waitFrame((f) => f.type === FRAME.HEADERS && f.stream === 5, 'an answer on stream 5')
  assert.equal(s.seen.count, 1, 'only stream 5 reached the backend')
  // 20 kB in one field: over SETTINGS_MAX_HEADER_LIST_SIZE.
  const huge = headerBlock(requestFields(s.authority, '/huge', [['x-huge', 'v'.repeat(20_000)]]))
  c.send(Buffer.concat([headersFrame(7, huge.subarray(0, 16_000), { endHeaders: false }), frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 7, huge.subarray(16_000))]))
  const r7 = await c.waitFrame((f) => f.type === FRAME.RST_STREAM && f.stream === 7, 'RST_STREAM on stream 7')
  assert.equal(errorName(errorCodeOf(r7!)), 'ENHANCE_YOUR_CALM')
  c.send(headersFrame(9, headerBlock(requestFields(s.authority, '/ok'))))
  await c.waitFrame((f) => f.type === FRAME.HEADERS && f.stream === 9, 'an answer on stream 9')
  t.diagnostic(`${c.describe()}; RST_STREAM ${framesOf(c, FRAME.RST_STREAM).map((f) => `${f.stream} ${errorName(errorCodeOf(f))}`).join(', ')}`)
  assert.equal(goawayOf(c), undefined)
  assert.equal(s.seen.count, 2, 'streams 5 and 9 (the proxy answered stream 1 itself)')
  await survives(s)
})

test('f. flow control: a client\'s window bounds the DATA it gets, and the proxy stops reading the backend', async (t) => {
  const s = await setup(t)
  const window = 1024
  const c = await H2Client.connect(s.proxy.port, { settings: { [SETTING.INITIAL_WINDOW_SIZE]: window } })
  t.after(() => { c.destroy() })
  await c.ready()
  const size = 64 * 1024 * 1024
  const rss = rssOf(s.pid)
  c.send(Buffer.concat([windowUpdateFrame(0, 2 ** 30), headersFrame(1, headerBlock(requestFields(s.authority, `/big?n=${size}`)))]))
  await c.waitFrame((f) => f.type === FRAME.HEADERS && f.stream === 1, 'the answer\'s head')
  let allowed = window
  for (const step of [1, 4096, 16_384, 100_000]) {
    await waitFor(() => dataOn(c, 1) >= allowed, `${allowed} bytes of DATA`)
    // However long we wait, no byte past the window: give the server time to overrun it if it would.
    await sleep(200)
    assert.equal(dataOn(c, 1), allowed, 'DATA past the window')
    c.send(windowUpdateFrame(1, step))
    allowed += step
  }
  await waitFor(() => dataOn(c, 1) >= allowed, `${allowed} bytes of DATA`)
  // The backend is held back by the proxy: it wrote only what the buffers on the way take.
  let last = -1
  await waitFor(() => { const w = s.big.written; const still = w === last; last = w; return still }, 'the backend to stall', 15_000, 500)
  t.diagnostic(`DATA received ${dataOn(c, 1)} of ${size}; the backend wrote ${s.big.written}; worker RSS ${rss} → ${rssOf(s.pid)}`)
  assert.equal(s.big.done, false)
  assert.ok(s.big.written < size / 4, `the backend wrote ${s.big.written} bytes`)
  assert.ok(rssOf(s.pid) - rss < size / 2, 'worker RSS stayed bounded')
  c.destroy()
  await survives(s)
})

/** `n` copies of `f` at once: the server must close the connection with GOAWAY. */
async function flood (t: Ctx & { diagnostic (m: string): void }, s: Setup, name: string, f: Buffer, n = 20_000): Promise<void> {
  const c = await blast(s, Array.from({ length: n }, () => f), `${name} flood`)
  t.after(() => { c.destroy() })
  const g = goawayOf(c)
  t.diagnostic(`${name} ×${n}: ${c.describe()}, ${framesOf(c, f[3]!).filter((x) => (x.flags & FLAG.ACK) !== 0).length} ACKs, GOAWAY ${g === undefined ? 'not seen' : errorName(errorCodeOf(g))}`)
  assert.ok(g !== undefined, 'a GOAWAY before the close')
  assert.equal(errorCodeOf(g), ERROR.INTERNAL_ERROR)
}

test('g. SETTINGS and PING floods: cut, the worker survives', async (t) => {
  const s = await setup(t)
  await flood(t, s, 'SETTINGS', settingsFrame({ [SETTING.HEADER_TABLE_SIZE]: 4096 }))
  await flood(t, s, 'PING', pingFrame())
  await survives(s)
})
