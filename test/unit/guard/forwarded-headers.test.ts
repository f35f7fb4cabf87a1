// CR, LF and NUL never reach a header sent to a backend. uWS refuses such bytes in a request head (docs/uws.md §3),
// the path stage never decodes %0D, %0A or %00 (it keeps or refuses them), the request id must be URL-safe, and every
// client-derived value that buildRequestHeaders puts into a backend header (the client's own fields, Host, and from a
// trusted peer X-Forwarded-*) is refused by undici before a byte is written. Shown here end to end through a real
// undici Pool to a real node:http server, which must never be reached.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { Pool } from 'undici'
import { buildRequestHeaders } from '../../../src/upstream/index.ts'
import { createGuard, normalisePath } from '../../../src/guard/index.ts'
import { classifyUpstreamError } from '../../../src/upstream/index.ts'
import { Exchange, type Downstream } from '../../../src/pipeline/index.ts'

const BAD = ['\r\nX-Injected: 1', '\nX-Injected: 1', 'a\rb', 'a\u0000b']

class Sink implements Downstream {
  onDrain: (() => void) | null = null
  start (): void {}
  write (): boolean { return true }
  end (): void {}
  abort (): void {}
  reply (): void {}
}

function exchange (o: { host?: string, headers?: string[], peer?: string }): Exchange {
  return new Exchange({
    method: 'GET', path: '/x', query: '', host: o.host ?? 'a', headers: o.headers ?? [], contentLength: -1, contentLengthCount: 0,
    chunked: false, peerIp: o.peer ?? '127.0.0.1', tls: false, startTime: 0, body: null, downstream: new Sink(),
    replies: { reply () {}, fault () {} }, onComplete: () => {}
  })
}

test('a client-derived header value with CR, LF or NUL is refused before anything reaches the backend', async (t) => {
  let connections = 0
  const server = createServer((s) => { connections++; s.destroy() })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => { server.close() })
  const pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  t.after(() => pool.close())
  const slots: Array<{ name: string, make: (bad: string) => Exchange, trusted?: boolean }> = [
    { name: 'a plain request field', make: (bad) => exchange({ headers: ['x-custom', `v${bad}`] }) },
    { name: 'Host (also X-Forwarded-Host)', make: (bad) => exchange({ host: `a${bad}` }) },
    { name: 'X-Forwarded-For from a trusted peer', make: (bad) => exchange({ headers: ['x-forwarded-for', `1.2.3.4${bad}`] }), trusted: true },
    { name: 'X-Forwarded-Proto from a trusted peer', make: (bad) => exchange({ headers: ['x-forwarded-proto', `https${bad}`] }), trusted: true },
    { name: 'X-Forwarded-Host from a trusted peer', make: (bad) => exchange({ headers: ['x-forwarded-host', `h${bad}`] }), trusted: true },
    { name: 'Via', make: (bad) => exchange({ headers: ['via', `1.1 x${bad}`] }) }
  ]
  for (const slot of slots) {
    for (const bad of BAD) {
      const ex = slot.make(bad)
      ex.requestId = 'r1'
      if (slot.trusted === true) ex.trustedPeer = true
      const headers = buildRequestHeaders(ex, '127.0.0.1', { preserveHost: true, via: true, startTrace: () => '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' })
      assert.ok(headers.some((v) => v.includes(bad)), `${slot.name}: the value is carried into the backend headers`)
      const err = await pool.request({ path: '/x', method: 'GET', headers }).then(() => undefined, (e: Error) => e)
      assert.ok(err !== undefined, `${slot.name} ${JSON.stringify(bad)}: undici sent it`)
      assert.equal(classifyUpstreamError(err).code, 'SWY_BAD_REQUEST', `${slot.name}: ${err.message}`)
    }
  }
  assert.equal(connections, 0, 'the backend was never contacted')
})

test('the path stage never decodes CR, LF or NUL, and a client request id carrying them is replaced', () => {
  const o = { allowEncodedSlash: false, mergeSlashes: true }
  assert.equal(normalisePath('/a%0d%0aX-Injected:%201', o), '/a%0D%0AX-Injected:%201')
  assert.equal(normalisePath('/a%00', o), undefined)
  const guard = createGuard({ trusted: { has: () => false, size: 0 }, nextId: () => 'fresh', maxHeaders: 64, maxHeaderSize: 16384 })
  for (const bad of BAD) {
    const ex = exchange({ headers: ['x-request-id', `id${bad}`] })
    guard.run(ex)
    assert.equal(ex.requestId, 'fresh')
  }
})
