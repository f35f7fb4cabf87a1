// The upstream client through a real proxy, against a raw TCP backend that answers with exact bytes: malformed
// answers are 502 before any byte and a cut after, and their connection is never used again; interim answers are
// skipped; a connection is reused only after a complete, well-framed response; a reused connection the server
// closed is retried once on a new one for a GET, never for a POST; the connection cap holds.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { startProxy, request, waitFor } from '../helpers/index.ts'
import { onRequests } from '../../bench/fuzz/responses.ts'

/** What the backend does with one request: answer with `bytes`, then keep the connection, close it, or destroy it. */
interface Answer { bytes?: string, then?: 'keep' | 'end' | 'destroy', delayMs?: number }

interface RawBackend {
  readonly url: string
  /** Connections accepted so far. */
  connections: number
  /** Connections open now, and the most seen at once. */
  open: number
  peak: number
  /** Request heads received, in order, with the connection number each came on. */
  readonly requests: Array<{ conn: number, head: string }>
  /** Connections the proxy closed (their number). */
  readonly closedByProxy: number[]
}

/** A backend that reads request heads (and Content-Length bodies) and answers each with `answer(conn, nth, head)`. */
async function rawBackend (t: { after: (fn: () => void) => void }, answer: (conn: number, nth: number, head: string) => Answer): Promise<RawBackend> {
  const sockets = new Set<Socket>()
  const b: RawBackend = { url: '', connections: 0, open: 0, peak: 0, requests: [], closedByProxy: [] }
  const server = createServer((s) => {
    const conn = ++b.connections
    b.open++
    b.peak = Math.max(b.peak, b.open)
    sockets.add(s)
    let nth = 0
    let ours = false
    onRequests(s, (head) => {
      b.requests.push({ conn, head })
      const a = answer(conn, ++nth, head)
      const act = (): void => {
        if (a.bytes !== undefined) s.write(Buffer.from(a.bytes, 'latin1'))
        if (a.then === 'end') { ours = true; s.end() } else if (a.then === 'destroy') { ours = true; s.destroy() }
      }
      if (a.delayMs === undefined) act()
      else setTimeout(act, a.delayMs)
    })
    s.on('end', () => { if (!ours) b.closedByProxy.push(conn) })
    s.on('error', () => {})
    s.on('close', () => { b.open--; sockets.delete(s) })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => { for (const s of sockets) s.destroy(); server.close() })
  return Object.assign(b, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })
}

function oneUpstream (url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { upstreams: { a: { servers: [{ url }], retries: 0, ...extra } }, routes: [{ upstream: 'a' }], log: { level: 'info' } }
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'

const MALFORMED: Array<{ name: string, bytes: string }> = [
  { name: 'a bad status line', bytes: 'HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'a status code out of range', bytes: 'HTTP/1.1 700 Odd\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'CR in a value', bytes: 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'LF in a value (bare LF)', bytes: 'HTTP/1.1 200 OK\r\nX-A: a\nb\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'NUL in a value', bytes: 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'obs-fold', bytes: 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'whitespace before the colon', bytes: 'HTTP/1.1 200 OK\r\nX-A : a\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'a line without a colon', bytes: 'HTTP/1.1 200 OK\r\nX-A\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'differing Content-Lengths', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!' },
  { name: 'Content-Length with Transfer-Encoding', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n' },
  { name: 'a bad chunk size', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n' },
  { name: 'a head over the size limit', bytes: `HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(20_000)}\r\nContent-Length: 2\r\n\r\nok` }
]

test('malformed answers are 502 SWY_UPSTREAM_BAD_RESPONSE, never retried, and their connection is closed', async (t) => {
  let which = 0
  const backend = await rawBackend(t, () => ({ bytes: MALFORMED[which]!.bytes, then: 'keep' }))
  const proxy = await startProxy(t, oneUpstream(backend.url, { retries: 2 }))
  for (const [i, c] of MALFORMED.entries()) {
    which = i
    const before = backend.requests.length
    const r = await request(`${proxy.url}/m${i}`)
    assert.equal(r.status, 502, `${c.name}: ${r.status} ${r.body}`)
    assert.equal(JSON.parse(r.body).error, 'SWY_UPSTREAM_BAD_RESPONSE', c.name)
    assert.equal(backend.requests.length, before + 1, `${c.name}: retried`)
    const conn = backend.requests.at(-1)!.conn
    await waitFor(() => backend.closedByProxy.includes(conn), `${c.name}: the proxy closes the connection`)
  }
  // Each answer came on a new connection: none was reused after a bad one.
  assert.deepEqual(backend.requests.map((r) => r.conn), MALFORMED.map((_, i) => i + 1))
})

test('bad chunk framing after body bytes went out reaches the client as a cut', async (t) => {
  const backend = await rawBackend(t, () => ({ bytes: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nfirst\r\n0\r\n\r\n`, then: 'keep' }))
  const proxy = await startProxy(t, oneUpstream(backend.url))
  const r = await request(`${proxy.url}/cut`).then(() => 'complete', (e: Error) => e.message)
  assert.notEqual(r, 'complete')
})

test('interim 1xx answers are skipped and the final one is relayed', async (t) => {
  const backend = await rawBackend(t, () => ({
    bytes: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\nX-Final: yes\r\n\r\ndone',
    then: 'keep'
  }))
  const proxy = await startProxy(t, oneUpstream(backend.url))
  const r = await request(`${proxy.url}/x`)
  assert.equal(r.status, 201)
  assert.equal(r.body, 'done')
  assert.equal(r.headers['x-final'], 'yes')
  assert.equal(r.headers.link, undefined)
})

test('HEAD, 204 and 304 answers end at their head whatever their fields say, and the connection is reused', async (t) => {
  const backend = await rawBackend(t, (_c, _n, head) => {
    if (head.startsWith('HEAD')) return { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' }
    if (head.includes('/204')) return { bytes: 'HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n' }
    if (head.includes('/304')) return { bytes: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\nETag: "e"\r\n\r\n' }
    return { bytes: OK }
  })
  const proxy = await startProxy(t, oneUpstream(backend.url, { connections: 1 }))
  const head = await request(`${proxy.url}/h`, { method: 'HEAD' })
  assert.equal(head.status, 200)
  assert.equal(head.headers['content-length'], '1000')
  assert.equal((await request(`${proxy.url}/204`)).status, 204)
  const nm = await request(`${proxy.url}/304`)
  assert.equal(nm.status, 304)
  assert.equal(nm.body, '')
  assert.equal((await request(`${proxy.url}/after`)).body, 'ok')
  assert.deepEqual(backend.requests.map((r) => r.conn), [1, 1, 1, 1], 'one connection for all four')
})

test('a close-delimited body reaches the client whole; the connection is not reused', async (t) => {
  const backend = await rawBackend(t, () => ({ bytes: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end', then: 'end' }))
  const proxy = await startProxy(t, oneUpstream(backend.url))
  assert.equal((await request(`${proxy.url}/a`)).body, 'until the end')
  assert.equal((await request(`${proxy.url}/b`)).body, 'until the end')
  assert.deepEqual(backend.requests.map((r) => r.conn), [1, 2])
})

test('bytes after a complete response, or Connection: close, stop the connection\'s reuse', async (t) => {
  const backend = await rawBackend(t, (_c, _n, head) => {
    if (head.includes('/extra')) return { bytes: `${OK}GARBAGE` }
    if (head.includes('/close')) return { bytes: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok' }
    return { bytes: OK }
  })
  const proxy = await startProxy(t, oneUpstream(backend.url, { connections: 1 }))
  for (const path of ['/plain', '/extra', '/plain', '/close', '/plain', '/plain']) {
    const r = await request(`${proxy.url}${path}`)
    assert.equal(r.body, 'ok', path)
  }
  assert.deepEqual(backend.requests.map((r) => r.conn), [1, 1, 2, 2, 3, 3])
})

test('a reused connection the server closed is retried once on a new one for a GET, never for a POST', async (t) => {
  // Every connection answers its first request and drops the second unanswered: a keep-alive close racing reuse.
  const backend = await rawBackend(t, (_c, n) => n === 1 ? { bytes: OK } : { then: 'destroy' })
  const proxy = await startProxy(t, oneUpstream(backend.url, { connections: 1 }))
  assert.equal((await request(`${proxy.url}/1`)).body, 'ok')
  const get = await request(`${proxy.url}/2`)
  assert.equal(get.status, 200, get.body)
  assert.deepEqual(backend.requests.map((r) => r.conn), [1, 1, 2], 'sent again on a new connection')
  const post = await request(`${proxy.url}/3`, { method: 'POST', body: 'x' })
  assert.equal(post.status, 502, post.body)
  assert.equal(JSON.parse(post.body).error, 'SWY_UPSTREAM_RESET')
  assert.equal(backend.requests.filter((r) => r.head.startsWith('POST')).length, 1, 'the POST was sent once')
})

test('no more than `connections` open to a server; requests beyond wait their turn', async (t) => {
  const backend = await rawBackend(t, () => ({ bytes: OK, delayMs: 50 }))
  const proxy = await startProxy(t, oneUpstream(backend.url, { connections: 2 }))
  const all = await Promise.all(Array.from({ length: 12 }, async (_, i) => await request(`${proxy.url}/${i}`)))
  for (const r of all) assert.equal(r.body, 'ok')
  assert.ok(backend.peak <= 2, `${backend.peak} connections at once`)
  assert.equal(backend.connections, 2)
})

test('chunked answers with extensions and trailers reach the client as their body alone', async (t) => {
  const backend = await rawBackend(t, () => ({ bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n' }))
  const proxy = await startProxy(t, oneUpstream(backend.url, { connections: 1 }))
  for (let i = 0; i < 2; i++) {
    const r = await request(`${proxy.url}/t`)
    assert.equal(r.body, 'abcde')
    assert.equal(r.headers['x-sum'], undefined)
  }
  assert.deepEqual(backend.requests.map((r) => r.conn), [1, 1], 'reused after the trailers')
})

test('a server\'s Keep-Alive: timeout is respected, so a POST is not sent on a connection it is closing', async (t) => {
  // The server says it keeps idle connections 1 s, and drops a request that comes later than that unanswered (as a
  // close racing the request would). The proxy must not reuse the connection that late.
  const last = new Map<number, number>()
  const backend = await rawBackend(t, (conn) => {
    const idle = Date.now() - (last.get(conn) ?? Date.now())
    last.set(conn, Date.now())
    return idle > 1000 ? { then: 'destroy' } : { bytes: 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok' }
  })
  const proxy = await startProxy(t, oneUpstream(backend.url, { connections: 1 }))
  assert.equal((await request(`${proxy.url}/1`, { method: 'POST', body: 'a' })).status, 200)
  await new Promise((resolve) => setTimeout(resolve, 1300))
  const r = await request(`${proxy.url}/2`, { method: 'POST', body: 'b' })
  assert.equal(r.status, 200, r.body)
  assert.deepEqual(backend.requests.map((x) => x.conn), [1, 2])
})
