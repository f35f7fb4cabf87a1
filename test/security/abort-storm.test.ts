// Client abort storms: many connections that reset mid-upload or right after the head while a slow backend holds
// them. Afterwards the proxy answers, nothing is left in flight, the same workers serve, and no body that was cut
// reached the backend as a complete request.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import { startProxy, waitFor } from '../helpers/index.ts'
import { startRawBackend, vitals, plainGet } from './harness.ts'

const CONNECTIONS = 200
const MB = 1024 * 1024

/** One hostile client; resolves once its connection is gone. */
async function abuse (port: number, i: number): Promise<void> {
  const s: Socket = connect(port, '127.0.0.1')
  s.on('error', () => {})
  await once(s, 'connect')
  const pause = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
  switch (i % 4) {
    case 0: // a large Content-Length body, cut after 64 KB
      s.write(`POST /cut/${i} HTTP/1.1\r\nHost: app.test\r\nContent-Length: ${MB}\r\n\r\n`)
      s.write(Buffer.alloc(64 * 1024, 'a'))
      await pause(20)
      break
    case 1: // the head of a large body, then nothing
      s.write(`PUT /cut/${i} HTTP/1.1\r\nHost: app.test\r\nContent-Length: ${MB}\r\n\r\n`)
      break
    case 2: // a chunked body, cut between chunks
      s.write(`POST /cut/${i} HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n4000\r\n${'c'.repeat(0x4000)}\r\n`)
      await pause(20)
      break
    default: // a whole GET the backend holds, abandoned
      s.write(`GET /slow/${i} HTTP/1.1\r\nHost: app.test\r\n\r\n`)
      await pause(50)
  }
  s.resetAndDestroy()
  if (!s.closed) await once(s, 'close')
}

test(`${CONNECTIONS} clients resetting mid-upload or mid-wait leave the proxy whole`, { timeout: 60_000 }, async (t) => {
  const backend = await startRawBackend(t, { delayMs: (target) => target.startsWith('/slow/') ? 1000 : 0 })
  const proxy = await startProxy(t, { workers: 2, upstreams: { a: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'a' }] })
  const before = await vitals(proxy.adminUrl)
  assert.equal(before.pids.length, 2)

  // Two waves, so the second lands on connections and pools the first one churned.
  for (let wave = 0; wave < 2; wave++) {
    await Promise.all(Array.from({ length: CONNECTIONS / 2 }, async (_, i) => { await abuse(proxy.port, wave * CONNECTIONS + i) }))
  }

  await waitFor(async () => (await vitals(proxy.adminUrl)).inflight === 0, 'in-flight upstream requests back to 0', 15_000, 100)
  assert.equal(await plainGet(proxy.port, '/after'), 200)
  const after = await vitals(proxy.adminUrl)
  assert.deepEqual(after.pids, before.pids, 'a worker was replaced')
  assert.equal(after.restarts, 0)
  // No cut body ever arrived whole; a cut request is at most a partial one the backend saw close.
  const whole = backend.requests.filter((r) => r.target.startsWith('/cut/'))
  assert.deepEqual(whole.map((r) => `${r.method} ${r.target} ${r.body.length}`), [])
  assert.deepEqual(backend.malformed, [])
  t.diagnostic(`backend: ${backend.requests.length} complete (GET /slow and /after), ${backend.partial.length} cut mid-body`)
})
