// Safe defaults at the edge: error answers (502 unreachable, reset and bad response, 504) carry no backend address and
// no stack; a PROXY protocol v2 header from an untrusted peer changes nothing (both engines take it off every
// connection, docs/uws.md §6: the address it claims must not reach X-Forwarded-For, access lists or caps), and one
// from a trusted peer names the client.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { startBackend, startProxy, freePort, echo, rawRequest, type RawResponse } from '../helpers/index.ts'

/** A TCP server that answers every connection with `behaviour`. */
async function rawBackend (t: { after: (fn: () => void) => void }, behaviour: (s: import('node:net').Socket) => void): Promise<number> {
  const server = createServer((s) => { s.on('error', () => {}); behaviour(s) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => { server.close() })
  return (server.address() as AddressInfo).port
}

function assertNothingLeaks (r: RawResponse, port: number, what: string): void {
  const text = Buffer.concat([Buffer.from(r.headers.map(([n, v]) => `${n}: ${v}\n`).join('')), r.body]).toString('latin1')
  assert.ok(!text.includes(`127.0.0.1:${port}`), `${what}: names the backend: ${text}`)
  assert.ok(!text.includes(String(port)), `${what}: names the backend's port: ${text}`)
  assert.doesNotMatch(text, /\n\s*at |Error:|ECONNREFUSED|ECONNRESET|UND_ERR/, `${what}: a stack or cause: ${text}`)
  const json = JSON.parse(r.body.toString()) as Record<string, unknown>
  assert.deepEqual(Object.keys(json), ['error', 'message', 'request_id'], what)
}

test('502 and 504 answers carry the code and request id, never the backend address or a stack', async (t) => {
  const dead = await freePort()
  const reset = await rawBackend(t, (s) => { s.once('data', () => { s.resetAndDestroy() }) })
  const garbage = await rawBackend(t, (s) => { s.once('data', () => { s.end('NOT HTTP AT ALL\r\n\r\n') }) })
  const silent = await rawBackend(t, () => {})
  const proxy = await startProxy(t, {
    upstreams: {
      dead: { servers: [{ url: `http://127.0.0.1:${dead}` }], retries: 0 },
      reset: { servers: [{ url: `http://127.0.0.1:${reset}` }], retries: 0 },
      garbage: { servers: [{ url: `http://127.0.0.1:${garbage}` }], retries: 0 },
      silent: { servers: [{ url: `http://127.0.0.1:${silent}` }], retries: 0, timeouts: { response: '300ms' } }
    },
    routes: [
      { match: { path: '/dead/' }, upstream: 'dead' },
      { match: { path: '/reset/' }, upstream: 'reset' },
      { match: { path: '/garbage/' }, upstream: 'garbage' },
      { match: { path: '/silent/' }, upstream: 'silent' }
    ],
    log: { access: false }
  })
  const cases = [
    { path: '/dead/x', port: dead, status: 502, code: 'SWY_UPSTREAM_UNREACHABLE' },
    { path: '/reset/x', port: reset, status: 502, code: 'SWY_UPSTREAM_RESET' },
    // undici's parse error for a non-HTTP answer is classified in upstream/errors.ts; any 502 code will do here.
    { path: '/garbage/x', port: garbage, status: 502, code: undefined },
    { path: '/silent/x', port: silent, status: 504, code: 'SWY_UPSTREAM_TIMEOUT' }
  ]
  for (const c of cases) {
    const r = await rawRequest(proxy.port, `GET ${c.path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)
    r.socket.destroy()
    assert.equal(r.status, c.status, c.path)
    if (c.code !== undefined) assert.equal((JSON.parse(r.body.toString()) as { error: string }).error, c.code, c.path)
    assertNothingLeaks(r, c.port, c.path)
  }
  // The address and the cause are in the log instead, beside the request id.
  const logged = proxy.logs.find((l) => l.msg === 'request failed' && l.code === 'SWY_UPSTREAM_UNREACHABLE')
  assert.equal(logged?.upstream, `http://127.0.0.1:${dead}`)
})

/** A PROXY protocol v2 header (RFC-less spec, haproxy.org proxy-protocol.txt §2.2): TCP over IPv4, `src` → `dst`. */
function proxyV2 (src: string, dst: string, srcPort: number, dstPort: number): Buffer {
  const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
  const addr = Buffer.alloc(12)
  Buffer.from(src.split('.').map(Number)).copy(addr, 0)
  Buffer.from(dst.split('.').map(Number)).copy(addr, 4)
  addr.writeUInt16BE(srcPort, 8)
  addr.writeUInt16BE(dstPort, 10)
  return Buffer.concat([sig, Buffer.from([0x21, 0x11, 0x00, 0x0c]), addr])
}

test('a spoofed PROXY v2 header from an untrusted peer changes nothing: forwarded-for, access lists and caps see the real peer', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, {
    upstreams: { web: { servers: [{ url: backend.url }] } },
    // On the engine under test (.ci/run runs this file on both; node-engine.test.ts adds TLS, h2 and h2c).
    listen: [{ host: '127.0.0.1', port: await freePort() }],
    // Even listed as trusted, the claimed address is never used: only the real peer is checked.
    trusted_proxies: ['203.0.113.0/24'],
    routes: [
      { match: { path: '/only-spoofed/' }, upstream: 'web', allow: ['203.0.113.7'] },
      { match: { path: '/deny-real/' }, upstream: 'web', deny: ['127.0.0.1'] },
      { match: { path: '/' }, upstream: 'web' }
    ],
    log: { access: false }
  })
  const send = async (path: string): Promise<RawResponse> => {
    const head = proxyV2('203.0.113.7', '127.0.0.1', 40000, proxy.port)
    const r = await rawRequest(proxy.port, Buffer.concat([head, Buffer.from(`GET ${path} HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.1\r\nConnection: close\r\n\r\n`)]))
    r.socket.destroy()
    return r
  }
  const echoed = await send('/who')
  assert.equal(echoed.status, 200)
  const headers = (JSON.parse(echoed.body.toString()) as { headers: Record<string, string> }).headers
  assert.equal(headers['x-forwarded-for'], '127.0.0.1', 'the real peer, and the client\'s own chain replaced')
  assert.equal((await send('/only-spoofed/x')).status, 403, 'an allow list naming the claimed address does not admit it')
  assert.equal((await send('/deny-real/x')).status, 403, 'a deny list naming the real peer still refuses it')
})

test('a PROXY v2 header from a trusted peer (a layer-4 load balancer) names the client: forwarded-for, access lists and caps see it', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, {
    upstreams: { web: { servers: [{ url: backend.url }] } },
    // On the engine under test (.ci/run runs this file on both; node-engine.test.ts adds TLS, h2 and h2c).
    listen: [{ host: '127.0.0.1', port: await freePort() }],
    trusted_proxies: ['127.0.0.1'],
    routes: [
      { match: { path: '/only-client/' }, upstream: 'web', allow: ['203.0.113.7'] },
      { match: { path: '/' }, upstream: 'web' }
    ],
    log: { access: false }
  })
  const send = async (path: string, proxied: boolean): Promise<RawResponse> => {
    const head = proxied ? proxyV2('203.0.113.7', '127.0.0.1', 40000, proxy.port) : Buffer.alloc(0)
    const r = await rawRequest(proxy.port, Buffer.concat([head, Buffer.from(`GET ${path} HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.1\r\nConnection: close\r\n\r\n`)]))
    r.socket.destroy()
    return r
  }
  const forwardedFor = (r: RawResponse): string | undefined => (JSON.parse(r.body.toString()) as { headers: Record<string, string> }).headers['x-forwarded-for']
  const viaLb = await send('/who', true)
  assert.equal(viaLb.status, 200)
  assert.equal(forwardedFor(viaLb), '203.0.113.7', 'the client the load balancer named; that client\'s own chain is not trusted')
  assert.equal((await send('/only-client/x', true)).status, 200, 'an allow list naming the client admits it')
  assert.equal((await send('/only-client/x', false)).status, 403, 'the load balancer itself is not the client')
  assert.equal(forwardedFor(await send('/who', false)), '198.51.100.1, 127.0.0.1', 'without the header, a trusted peer\'s chain is kept and appended to')
})
