// WebSocket proxying through a real worker to real `ws` backends: the handshake through the same stages as a request
// (refusals, access lists, balancing, retries), the backend's subprotocol and refusals relayed, and frames both ways
// (text, binary, fragmented, large, ping, close codes and reasons, a backend that vanishes, compression per hop).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { startProxy, freePort, waitFor } from '../helpers/index.ts'
import { startWsBackend, startRefusingBackend, openWs, mustOpen, nextMessage, closed, wsUrl } from '../helpers/websocket.ts'

function oneUpstream (servers: string[], extra: Record<string, unknown> = {}, route: Record<string, unknown> = {}): Record<string, unknown> {
  return { upstreams: { a: { servers: servers.map((url) => ({ url })) } }, routes: [{ upstream: 'a', ...route }], ...extra }
}

test('the handshake: headers reach the backend, the backend picks the subprotocol, messages echo both ways', async (t) => {
  const backend = await startWsBackend(t)
  const proxy = await startProxy(t, oneUpstream([backend.url]))
  const ws = await mustOpen(t, wsUrl(proxy.url, '/chat?room=1'), ['chat.v2', 'chat.v1'], {
    headers: { cookie: 'sid=abc', authorization: 'Bearer t0k', origin: 'https://app.test', 'x-request-id': 'client-id-1' }
  })
  // The backend chose the last offered; a proxy that answered on its own would have said chat.v2.
  assert.equal(ws.protocol, 'chat.v1')
  const h = backend.handshakes[0]!
  assert.equal(h.url, '/chat?room=1')
  assert.equal(h.headers.cookie, 'sid=abc')
  assert.equal(h.headers.authorization, 'Bearer t0k')
  assert.equal(h.headers.origin, 'https://app.test')
  assert.equal(h.headers['sec-websocket-protocol'], 'chat.v2,chat.v1')
  assert.equal(h.headers['x-forwarded-for'], '127.0.0.1')
  assert.equal(h.headers['x-forwarded-proto'], 'http')
  assert.match(String(h.headers['x-request-id']), /.+/)
  ws.send('hello')
  const text = await nextMessage(ws)
  assert.deepEqual([text.data.toString(), text.binary], ['hello', false])
  ws.send(Buffer.from([0, 1, 2, 255]))
  const bin = await nextMessage(ws)
  assert.deepEqual([[...bin.data], bin.binary], [[0, 1, 2, 255], true])
})

test('routes[].websocket: false refuses upgrades with 400; plain requests on it still pass', async (t) => {
  const backend = await startWsBackend(t)
  const proxy = await startProxy(t, oneUpstream([backend.url], {}, { websocket: false }))
  const r = await openWs(wsUrl(proxy.url))
  assert.ok(!(r instanceof WebSocket))
  assert.equal(r.status, 400)
  assert.match(r.body, /SWY_WEBSOCKET_REFUSED/)
  assert.equal(backend.handshakes.length, 0)
  assert.equal((await fetch(proxy.url)).status, 200)
})

test('a backend refusal reaches the client with its status, headers and body; unreachable is 502; retries apply to the connect', async (t) => {
  const refusing = await startRefusingBackend(t, 403, 'not you')
  const proxy = await startProxy(t, oneUpstream([refusing.url]))
  const r = await openWs(wsUrl(proxy.url))
  assert.ok(!(r instanceof WebSocket))
  assert.equal(r.status, 403)
  assert.equal(r.body, 'not you')
  assert.equal(r.headers['x-refused-by'], 'backend')

  const dead = `http://127.0.0.1:${await freePort()}`
  const down = await startProxy(t, { upstreams: { a: { servers: [{ url: dead }], retries: 0, passive: { failures: 0 } } }, routes: [{ upstream: 'a' }] })
  const d = await openWs(wsUrl(down.url))
  assert.ok(!(d instanceof WebSocket))
  assert.equal(d.status, 502)
  assert.match(d.body, /SWY_UPSTREAM_UNREACHABLE/)

  // Round robin starts at the dead server: only the retry on the connect reaches the live one.
  const live = await startWsBackend(t)
  const retry = await startProxy(t, { upstreams: { a: { servers: [{ url: dead }, { url: live.url }], retries: 1, passive: { failures: 0 } } }, routes: [{ upstream: 'a' }] })
  for (let i = 0; i < 4; i++) {
    const ws = await mustOpen(t, wsUrl(retry.url))
    ws.send(`r${i}`)
    assert.equal((await nextMessage(ws)).data.toString(), `r${i}`)
    ws.close()
  }
})

test('the handshake meets the route stages: access lists, limits.max_websockets, and the balancer (hash)', async (t) => {
  const a = await startWsBackend(t)
  const b = await startWsBackend(t)
  const proxy = await startProxy(t, {
    upstreams: { u: { servers: [{ url: a.url }, { url: b.url }], balance: 'hash', hash: { by: 'header:x-user' } } },
    routes: [
      { match: { path: '/denied' }, upstream: 'u', deny: ['127.0.0.0/8'] },
      { match: { path: '/one' }, upstream: 'u', limits: { max_websockets: 1 } },
      { upstream: 'u' }
    ]
  })
  const denied = await openWs(wsUrl(proxy.url, '/denied'))
  assert.ok(!(denied instanceof WebSocket))
  assert.equal(denied.status, 403)

  const first = await mustOpen(t, wsUrl(proxy.url, '/one'))
  const second = await openWs(wsUrl(proxy.url, '/one'))
  assert.ok(!(second instanceof WebSocket))
  assert.equal(second.status, 503)
  assert.match(second.body, /SWY_WEBSOCKET_LIMIT/)
  // Closing the first frees its slot.
  first.close()
  await waitFor(async () => { const w = await openWs(wsUrl(proxy.url, '/one')); if (w instanceof WebSocket) { w.close(); return true } return false }, 'a slot after close')

  // The same x-user always lands on the same backend.
  const before = a.handshakes.length + b.handshakes.length
  for (let i = 0; i < 6; i++) (await mustOpen(t, wsUrl(proxy.url, '/h'), [], { headers: { 'x-user': 'alice' } })).close()
  const got = [a.handshakes.length, b.handshakes.length]
  assert.equal(got[0]! + got[1]! - before, 6)
  assert.ok(a.handshakes.filter((r) => r.url === '/h').length === 6 || b.handshakes.filter((r) => r.url === '/h').length === 6, `hash split alice: ${JSON.stringify(got)}`)
})

test('frames: fragmented and large messages, ping, close codes and reasons both ways', async (t) => {
  let backendSocket: WebSocket | null = null
  const backend = await startWsBackend(t, {
    onSocket: (ws) => {
      backendSocket = ws
      ws.on('message', (data, isBinary) => {
        const s = isBinary ? '' : (data as Buffer).toString()
        if (s === 'close-4002') ws.close(4002, 'later')
        else if (s === 'close-nocode') ws.close()
        else if (s === 'vanish') ws.terminate()
        else ws.send(data as Buffer, { binary: isBinary })
      })
    }
  })
  // uWS takes the largest max_message of all routes (/roomy's); the default route checks its own 8mb itself.
  const proxy = await startProxy(t, {
    upstreams: { a: { servers: [{ url: backend.url }] } },
    routes: [{ match: { path: '/roomy' }, upstream: 'a', websocket: { max_message: '16mb' } }, { upstream: 'a', websocket: { max_message: '8mb' } }]
  })
  const url = wsUrl(proxy.url)

  const ws = await mustOpen(t, url)
  // A message in three fragments arrives whole.
  ws.send('frag-', { fin: false })
  ws.send('ment-', { fin: false })
  ws.send('ed', { fin: true })
  assert.equal((await nextMessage(ws)).data.toString(), 'frag-ment-ed')
  const big = Buffer.alloc(5 * 1024 * 1024, 7)
  big[12345] = 1
  ws.send(big)
  const back = await nextMessage(ws)
  assert.equal(back.binary, true)
  assert.ok(back.data.equals(big), 'the 5 MB message came back intact')
  ws.ping('p')
  const [pong] = await new Promise<[Buffer]>((resolve) => ws.once('pong', (d) => { resolve([d]) }))
  assert.equal(pong.toString(), 'p')

  // The client's code and reason reach the backend.
  ws.close(4001, 'bye')
  await closed(ws)
  await waitFor(() => backend.closes.some((c) => c.code === 4001 && c.reason === 'bye'), 'the backend to get 4001 bye')

  // The backend's code and reason reach the client.
  const b1 = await mustOpen(t, url)
  b1.send('close-4002')
  assert.deepEqual(await closed(b1), { code: 4002, reason: 'later' })
  // A close frame without a code stays one (1005 is never sent on the wire).
  const b2 = await mustOpen(t, url)
  b2.send('close-nocode')
  assert.deepEqual(await closed(b2), { code: 1005, reason: '' })
  // A backend that vanishes (no close frame, 1006 on the proxy's side) is a 1011 to the client.
  const b3 = await mustOpen(t, url)
  b3.send('vanish')
  assert.equal((await closed(b3)).code, 1011)

  // A client message over the route's max_message closes with 1009.
  const b4 = await mustOpen(t, url)
  b4.send(Buffer.alloc(8 * 1024 * 1024 + 1))
  assert.equal((await closed(b4)).code, 1009)
  assert.ok(backendSocket !== null)
})

test('permessage-deflate to the client when it offers it, never to the backend; off with websocket.deflate: false', async (t) => {
  const backend = await startWsBackend(t)
  const proxy = await startProxy(t, {
    upstreams: { a: { servers: [{ url: backend.url }] } },
    routes: [{ match: { path: '/plain' }, upstream: 'a', websocket: { deflate: false } }, { upstream: 'a' }]
  })
  const z = await mustOpen(t, wsUrl(proxy.url, '/z'), [], { perMessageDeflate: true })
  assert.match(z.extensions, /permessage-deflate/)
  const text = 'compress me '.repeat(1000)
  z.send(text)
  assert.equal((await nextMessage(z)).data.toString(), text)
  assert.equal(backend.handshakes.at(-1)!.headers['sec-websocket-extensions'], undefined)
  const p = await mustOpen(t, wsUrl(proxy.url, '/plain'), [], { perMessageDeflate: true })
  assert.equal(p.extensions, '')
  p.send(text)
  assert.equal((await nextMessage(p)).data.toString(), text)
})

test('an access line when the socket closes: duration, messages and bytes each way, close code', async (t) => {
  const backend = await startWsBackend(t)
  const proxy = await startProxy(t, oneUpstream([backend.url], { log: { access: true } }))
  const ws = await mustOpen(t, wsUrl(proxy.url, '/logged'))
  ws.send('abc')
  await nextMessage(ws)
  ws.send(Buffer.alloc(10))
  await nextMessage(ws)
  ws.close(1000)
  await closed(ws)
  const line = await waitFor(() => proxy.logs.find((l) => l.kind === 'access' && l.path === '/logged'), 'the access line')
  assert.equal(line.status, 101)
  assert.equal(typeof line.ms, 'number')
  assert.deepEqual(line.ws, { in: 2, bytesIn: 13, out: 2, bytesOut: 13, close: 1000 })
})
