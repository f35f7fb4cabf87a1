// A bodiless request's head is held for the end of the turn (net/end-of-turn.ts). What that must not change or may
// improve: a request cancelled within its turn never reaches the server, and bytes a server sends on a reused
// connection before it had the request (a 408 as it closes, say) are not taken as the answer: the request goes again
// on a new connection.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { ServerPool, UpstreamClock, type ResponseHandler } from '../../../src/upstream/index.ts'

interface Backend {
  readonly port: number
  /** Per connection, in order of arrival, the request heads it read. */
  readonly heads: string[][]
  readonly sockets: Socket[]
  readonly closed: Promise<void>[]
}

/** Answers every complete request head with 200 `ok`, keeping the connection. */
async function backend (t: { after: (fn: () => void | Promise<void>) => void }): Promise<Backend> {
  const b: Backend = { port: 0, heads: [], sockets: [], closed: [] }
  const server = createServer((s) => {
    const mine: string[] = []
    b.heads.push(mine)
    b.sockets.push(s)
    b.closed.push(once(s, 'close').then(() => {}))
    let buf = ''
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1')
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        mine.push(buf.slice(0, end))
        buf = buf.slice(end + 4)
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
      }
    })
    s.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => { for (const s of b.sockets) s.destroy(); server.close() })
  return Object.assign(b, { port: (server.address() as AddressInfo).port })
}

interface Outcome { status: number, body: string, error: string }

function get (pool: ServerPool, path: string): { done: Promise<Outcome>, cancel: () => void } {
  let resolve!: (o: Outcome) => void
  const done = new Promise<Outcome>((r) => { resolve = r })
  let status = 0
  const body: Buffer[] = []
  const handler: ResponseHandler = {
    onHead (s) { status = s },
    onWhole (s, _h, b) { status = s; body.push(Buffer.from(b)) },
    onBody (chunk) { body.push(Buffer.from(chunk)); return true },
    onEnd () { resolve({ status, body: Buffer.concat(body).toString('latin1'), error: '' }) },
    onError (err) { resolve({ status, body: '', error: err.code }) }
  }
  const call = pool.request({ head: `GET ${path} HTTP/1.1\r\nhost: a\r\n\r\n`, isHead: false, body: null, chunked: false, length: -1, retryStale: true }, handler)
  return { done, cancel: () => { call.cancel() } }
}

async function setup (t: { after: (fn: () => void | Promise<void>) => void }): Promise<{ b: Backend, pool: ServerPool }> {
  const b = await backend(t)
  const clock = new UpstreamClock()
  const pool = new ServerPool({ host: '127.0.0.1', port: b.port, tls: undefined, timeouts: { connect: 2000, response: 5000, idle: 5000 } }, 4, clock)
  t.after(async () => { await pool.close(0); clock.close() })
  return { b, pool }
}

test('bytes a server sends on an idle connection before it had the request are not its answer: sent again on a new connection', async (t) => {
  const { b, pool } = await setup(t)
  assert.deepEqual(await get(pool, '/first').done, { status: 200, body: 'ok', error: '' })
  assert.equal(b.heads.length, 1)
  // The server gives up on the idle connection with a 408 just as the second request takes it. From a timer: loopback
  // delivers the bytes at once, and this turn's poll phase, which comes before the held head is written (check
  // phase), reads them. (From a socket callback the poll phase would be over, and the bytes read a turn later.)
  await new Promise((resolve) => setTimeout(resolve, 1))
  b.sockets[0]!.write('HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
  const second = await get(pool, '/second').done
  assert.deepEqual(second, { status: 200, body: 'ok', error: '' }, 'the 408 was taken as the answer')
  assert.deepEqual(b.heads.map((h) => h.map((x) => x.split(' ')[1])), [['/first'], ['/second']])
})

test('a request cancelled in the turn it was made in never reaches the server', async (t) => {
  const { b, pool } = await setup(t)
  assert.equal((await get(pool, '/warm').done).status, 200)
  const r = get(pool, '/gone')
  r.cancel()
  // The cancelled request's connection is closed; a request after it opens a new one.
  await b.closed[0]
  assert.equal((await get(pool, '/after').done).status, 200)
  assert.deepEqual(b.heads.map((h) => h.map((x) => x.split(' ')[1])), [['/warm'], ['/after']])
})
