// Framing and failure at the edges of a stream: client aborts reach the backend, bodiless answers stay
// bodiless, a backend dying mid-body is never passed off as a complete response, and keep-alive holds.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { request, get, type ServerResponse, type IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import { readFileSync } from 'node:fs'
import { setTimeout as delay } from 'node:timers/promises'
import { Client } from 'undici'
import { freePort, rssOf, startBackend, startProxy, waitFor, type ProxyHandle } from '../helpers/index.ts'
import { ENGINE } from '../helpers/engine.ts'
import { MB, add, produce, rawExchange, tally, type Tally } from '../helpers/streams.ts'

/** What the backend saw of the latest abortable exchange. */
interface Seen {
  /** Response: 'close' came before the body finished. Request: the body ended early. */
  cut: boolean
  /** Bytes written (download) or read (upload) when that happened. */
  bytes: number
}

interface Fixture {
  proxy: ProxyHandle
  pid: number
  seen: Seen | null
  /** Bytes the backend wrote for the latest /stream, live. */
  streamed: Tally
  /** Bytes the backend read for the latest /sink, live. */
  sunk: Tally
  /** The latest /early response, held unanswered (its request body unread) until the test answers it. */
  early: ServerResponse | null
}

const HEAD_LENGTH = 1234
// Bounds every request, so a stuck stream fails the test instead of hanging it.
const DEADLINE_MS = 10_000
const deadline = (): AbortSignal => AbortSignal.timeout(DEADLINE_MS)

async function setup (t: TestContext): Promise<Fixture> {
  const f: Fixture = { proxy: null as unknown as ProxyHandle, pid: 0, seen: null, streamed: tally(), sunk: tally(), early: null }
  const backend = await startBackend(t, (req, res) => {
    const u = new URL(req.url!, 'http://x')
    switch (u.pathname) {
      case '/stream': { // 1 GB that nobody reads to the end
        const sent = f.streamed = tally()
        res.writeHead(200, u.searchParams.has('chunked') ? {} : { 'content-length': 1024 * MB })
        res.on('close', () => { f.seen = { cut: !res.writableFinished, bytes: sent.bytes } })
        void produce(res, 1024 * MB, sent)
        return
      }
      case '/sink': { // reads an upload; records whether it ended early
        const got = f.sunk = tally()
        req.on('data', (c: Buffer) => add(got, c))
        req.on('close', () => { f.seen = { cut: !req.complete, bytes: got.bytes } })
        req.on('end', () => res.end('ok'))
        return
      }
      case '/early':
        f.early = res
        return
      case '/head':
        res.writeHead(200, { 'content-length': HEAD_LENGTH, 'content-type': 'text/plain' })
        res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(HEAD_LENGTH))
        return
      case '/204':
        res.writeHead(204, { 'x-kind': 'no-content' })
        res.end()
        return
      case '/304':
        res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=60' })
        res.end()
        return
      case '/empty':
        res.writeHead(200, { 'content-length': 0 })
        res.end()
        return
      case '/date':
        res.writeHead(200, { date: 'Mon, 01 Jan 2001 00:00:00 GMT', 'content-length': 2 })
        res.end('ok')
        return
      case '/die': // announces a body, sends part of it, then the process "dies" (socket destroyed)
        die(res, u.searchParams)
        return
      default:
        res.end(`hello ${req.method!} ${u.pathname}`)
    }
  })
  // /down/ goes to a port nobody listens on, for local (502) answers.
  f.proxy = await startProxy(t, {
    upstreams: { a: { servers: [{ url: backend.url }] }, down: { servers: [{ url: `http://127.0.0.1:${await freePort()}` }] } },
    routes: [{ upstream: 'a' }, { match: { path: '/down/' }, upstream: 'down' }],
    // Uploads here run past the default max_body (10mb).
    limits: { max_body: '1gb' },
    log: { access: false }
  })
  f.pid = await waitFor(() => f.proxy.workerPids()[0], 'a worker pid')
  return f
}

function die (res: ServerResponse, q: URLSearchParams): void {
  const sendBytes = Number(q.get('send'))
  res.writeHead(200, q.has('chunked') ? {} : { 'content-length': 1_000_000 })
  if (sendBytes === 0) {
    res.flushHeaders()
    setImmediate(() => res.socket!.destroy())
    return
  }
  res.write(Buffer.alloc(sendBytes, 0x61), () => { res.socket!.destroy() })
}

/** The proxy still answers, from the same worker. */
async function stillServing (f: Fixture): Promise<void> {
  const res = await fetch(`${f.proxy.url}/after`, { signal: deadline() })
  assert.equal(res.status, 200)
  assert.equal(await res.text(), 'hello GET /after')
  assert.deepEqual(f.proxy.workerPids(), [f.pid])
}

/** Reads until `after` bytes arrived (pausing `stallFirst`), then destroys the request. */
async function readThenAbort (url: string, after: number, stallFirst: boolean, f: Fixture): Promise<number> {
  return await new Promise((resolve, reject) => {
    let got = 0
    const req = get(url, { agent: false, signal: deadline() }, (res: IncomingMessage) => {
      res.on('data', (c: Buffer) => {
        got += c.length
        if (got < after || req.destroyed) return
        if (!stallFirst) { req.destroy(); resolve(got); return }
        // Stop reading until the backend is held back, so the abort lands while every buffer is full.
        res.pause()
        void waitFor(async () => {
          const before = f.streamed.bytes
          await delay(100)
          return f.streamed.bytes === before
        }, 'the backend to be held back by backpressure').then(() => { req.destroy(); resolve(got) }, reject)
      })
      res.on('error', reject) // after our own destroy the promise has settled and this is a no-op
    })
    req.on('error', reject)
  })
}

test('a client abort mid-download closes the backend response; the proxy keeps serving', async (t) => {
  const f = await setup(t)
  const cases = [
    { name: 'content-length, client reading', query: '', stall: false },
    { name: 'chunked, client reading', query: '?chunked', stall: false },
    { name: 'content-length, client stalled (proxy paused upstream)', query: '', stall: true },
    { name: 'chunked, client stalled (proxy paused upstream)', query: '?chunked', stall: true }
  ]
  for (const c of cases) {
    await t.test(c.name, async () => {
      f.seen = null
      const got = await readThenAbort(`${f.proxy.url}/stream${c.query}`, 4 * MB, c.stall, f)
      const seen = await waitFor(() => f.seen, 'the backend response to close', 5000)
      assert.equal(seen.cut, true)
      assert.ok(got >= 4 * MB && seen.bytes < 1024 * MB, `client got ${got}, backend wrote ${seen.bytes}`)
      await stillServing(f)
    })
  }
})

test('a client abort mid-upload aborts the backend request; the proxy keeps serving', async (t) => {
  const f = await setup(t)
  for (const chunked of [false, true]) {
    await t.test(chunked ? 'chunked' : 'content-length', async () => {
      f.seen = null
      f.sunk = tally()
      const req = request(`${f.proxy.url}/sink`, {
        method: 'POST',
        agent: false,
        signal: deadline(),
        headers: chunked ? {} : { 'content-length': 100 * MB }
      })
      req.on('error', () => {})
      const sent = tally()
      await produce(req, 100 * MB, sent, { stopAt: 8 * MB })
      // Wait until the backend has the start of the body, so the abort lands mid-stream.
      await waitFor(() => f.sunk.bytes > 0, 'the upload to reach the backend')
      req.destroy()
      const seen = await waitFor(() => f.seen, 'the backend request to end', 5000)
      assert.equal(seen.cut, true)
      assert.ok(seen.bytes > 0 && seen.bytes <= sent.bytes, `backend read ${seen.bytes} of ${sent.bytes} sent`)
      await stillServing(f)
    })
  }
})

test('an answer before the whole upload was read lets the client finish and keeps the connection', async (t) => {
  const f = await setup(t)
  // More than the kernel can hold between client, proxy and backend, or nothing ever pauses: on loopback each
  // receiving socket may grow to tcp_rmem's maximum (32 MiB on the CI machine) and each sender keeps up to tcp_wmem's;
  // a 64 MiB upload fit in those buffers whole now and then, with the proxy pausing as it should.
  const total = Math.max(64 * MB, 2 * 2 * (sysctlMax('tcp_rmem') + sysctlMax('tcp_wmem')))
  const rssBefore = rssOf(f.pid)
  const sock = connect(f.proxy.port, '127.0.0.1')
  t.after(() => sock.destroy())
  let text = ''
  sock.on('data', (d: Buffer) => { text += d.toString('latin1') })
  sock.on('error', () => {})
  sock.write(`POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: ${total}\r\n\r\n`)
  const sent = tally()
  void produce(sock, total, sent, { end: false })
  // The backend reads nothing, so the proxy pauses the client once its small buffer is full: writes stall. uWS 20.57
  // reads on past pause() while the client keeps its socket full (docs/engines.md, "Request bodies and pause()"), so
  // there the whole upload may be taken before the answer; what follows must hold either way.
  await waitFor(async () => {
    const before = sent.bytes
    await delay(100)
    if (f.early === null) return false
    if (ENGINE === '20.57' && sent.bytes === total && sock.writableLength === 0) return true
    return sent.bytes === before && sent.bytes < total
  }, 'the client to be paused', 30_000).catch((e: Error) => {
    throw new Error(`${e.message}: sent ${sent.bytes} of ${total}, backend has the request: ${f.early !== null}, answer so far ${JSON.stringify(text.slice(0, 200))}, ` +
      `worker RSS ${(rssBefore / MB).toFixed(1)} MB before, ${(rssOf(f.pid) / MB).toFixed(1)} MB now, the client's socket buffer ${sock.writableLength}`)
  })
  t.diagnostic(`${ENGINE}: the client was ${sent.bytes < total ? `paused after ${(sent.bytes / MB).toFixed(1)} MB` : 'never paused'} of ${total / MB} MB; ` +
    `worker RSS ${(rssBefore / MB).toFixed(1)} MB before, ${(rssOf(f.pid) / MB).toFixed(1)} MB now`)
  f.early!.writeHead(413, { 'content-length': 7 }).end('too big')
  await waitFor(() => text.includes('too big'), 'the 413')
  assert.match(text, /^HTTP\/1\.1 413 /)
  // A socket left paused would hold the rest of the body (and the connection) forever; it is read and dropped.
  await waitFor(() => sent.bytes === total && sock.writableLength === 0, 'the rest of the body to be taken')
  text = ''
  sock.write('GET /after HTTP/1.1\r\nHost: x\r\n\r\n')
  await waitFor(() => text.includes('hello GET /after'), 'the next answer on the same connection')
  assert.match(text, /^HTTP\/1\.1 200 /)
})

test('bodiless answers stay bodiless and framing is not duplicated', async (t) => {
  const f = await setup(t)
  const port = f.proxy.port
  const ask = async (method: string, path: string) =>
    await rawExchange(port, `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)

  await t.test('HEAD keeps the backend content-length and sends no body', async () => {
    const r = await ask('HEAD', '/head')
    assert.match(r.head, /^HTTP\/1\.1 200 /)
    assert.equal(r.header('content-length'), String(HEAD_LENGTH))
    assert.equal(r.names.filter((n) => n === 'content-length').length, 1)
    assert.equal(r.header('transfer-encoding'), undefined)
    assert.equal(r.body.length, 0)
    // And through a client that would notice a stray body on the next request of the connection.
    const client = new Client(f.proxy.url, { pipelining: 1, headersTimeout: DEADLINE_MS, bodyTimeout: DEADLINE_MS })
    t.after(() => client.close())
    const h = await client.request({ method: 'HEAD', path: '/head' })
    assert.equal(h.headers['content-length'], String(HEAD_LENGTH))
    assert.equal(await h.body.text(), '')
    const g = await client.request({ method: 'GET', path: '/head' })
    assert.equal(g.statusCode, 200)
    assert.equal((await g.body.text()).length, HEAD_LENGTH)
  })

  await t.test('HEAD answered locally (502) announces its length, sends no body and keeps the connection', async () => {
    const r = await ask('HEAD', '/down/x')
    assert.match(r.head, /^HTTP\/1\.1 502 /)
    assert.equal(r.names.filter((n) => n === 'content-length').length, 1)
    assert.ok(Number(r.header('content-length')) > 0)
    assert.equal(r.body.length, 0)
    const client = new Client(f.proxy.url, { pipelining: 1, headersTimeout: DEADLINE_MS, bodyTimeout: DEADLINE_MS })
    t.after(() => client.close())
    const h = await client.request({ method: 'HEAD', path: '/down/x' })
    assert.equal(h.statusCode, 502)
    assert.equal(await h.body.text(), '')
    const g = await client.request({ method: 'GET', path: '/after' })
    assert.equal(g.statusCode, 200)
    assert.equal(await g.body.text(), 'hello GET /after')
  })

  const bodiless = [
    { name: '204 has no body and no content-length', path: '/204', status: 204, header: ['x-kind', 'no-content'] },
    { name: '304 has no body and no content-length', path: '/304', status: 304, header: ['etag', '"v1"'] }
  ]
  for (const c of bodiless) {
    await t.test(c.name, async () => {
      const r = await ask('GET', c.path)
      assert.match(r.head, new RegExp(`^HTTP/1\\.1 ${c.status} `))
      assert.equal(r.header(c.header[0]!), c.header[1])
      assert.equal(r.header('content-length'), undefined)
      assert.equal(r.header('transfer-encoding'), undefined)
      assert.equal(r.body.length, 0)
    })
  }

  await t.test('an empty 200 carries content-length 0', async () => {
    const r = await ask('GET', '/empty')
    assert.match(r.head, /^HTTP\/1\.1 200 /)
    assert.deepEqual(r.names.filter((n) => n === 'content-length' || n === 'transfer-encoding'), ['content-length'])
    assert.equal(r.header('content-length'), '0')
    assert.equal(r.body.length, 0)
    const res = await fetch(`${f.proxy.url}/empty`, { signal: deadline() })
    assert.equal(res.status, 200)
    assert.equal(await res.text(), '')
  })

  await t.test('an upstream Date header yields exactly one Date', async () => {
    const r = await ask('GET', '/date')
    assert.equal(r.names.filter((n) => n === 'date').length, 1)
    assert.equal(r.names.filter((n) => n === 'content-length').length, 1)
    assert.equal(r.body.toString(), 'ok')
  })
})

test('a backend that dies mid-body is never passed off as a complete response', async (t) => {
  const f = await setup(t)
  const cases = [
    { name: 'content-length, 100 kB of 1 MB sent: truncated, then closed', query: '?send=100000', status: 200 },
    { name: 'chunked, 100 kB sent: unterminated, then closed', query: '?send=100000&chunked', status: 200 },
    { name: 'content-length, headers only: 502', query: '?send=0', status: 502 }
  ]
  for (const c of cases) {
    await t.test(c.name, async () => {
      // fetch: the body read rejects, or the status says it failed.
      const res = await fetch(`${f.proxy.url}/die${c.query}`, { signal: deadline() })
      assert.equal(res.status, c.status)
      if (c.status === 200) await assert.rejects(res.arrayBuffer())
      else await res.arrayBuffer()
      // Raw socket: fewer bytes than announced, or an unterminated chunked body, then close.
      const r = await rawExchange(f.proxy.port, `GET /die${c.query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
      if (c.status === 200) {
        assert.match(r.head, /^HTTP\/1\.1 200 /)
        const cl = r.header('content-length')
        if (cl !== undefined) assert.ok(r.body.length < Number(cl), `${r.body.length} of ${cl} bytes`)
        else assert.ok(!r.body.subarray(-5).equals(Buffer.from('0\r\n\r\n')), 'the chunked body looks terminated')
      } else {
        // Nothing of the response had reached the client: it still gets a status and a code.
        assert.match(r.head, /^HTTP\/1\.1 502 /)
        assert.match(r.body.toString(), /"error":"SWY_UPSTREAM_RESET"/)
      }
      await stillServing(f)
    })
  }
})

test('200 sequential requests on one keep-alive connection', async (t) => {
  const f = await setup(t)
  const client = new Client(f.proxy.url, { pipelining: 1, headersTimeout: DEADLINE_MS, bodyTimeout: DEADLINE_MS })
  t.after(() => client.close())
  let connects = 0
  client.on('connect', () => { connects++ })
  for (let i = 0; i < 200; i++) {
    const post = i % 4 === 3
    const r = await client.request(post
      ? { method: 'POST', path: `/sink?i=${i}`, body: `body ${i}` }
      : { method: 'GET', path: `/k${i}` })
    assert.equal(r.statusCode, 200, `request ${i}`)
    assert.equal(await r.body.text(), post ? 'ok' : `hello GET /k${i}`)
  }
  assert.equal(connects, 1)
})

/** The maximum of a `net.ipv4` buffer sysctl (min default max), in bytes; 8 MiB when it cannot be read. */
function sysctlMax (name: string): number {
  try {
    const max = Number(readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/)[2])
    return Number.isFinite(max) && max > 0 ? max : 8 * MB
  } catch {
    return 8 * MB
  }
}
