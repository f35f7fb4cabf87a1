// Header hygiene through a real proxy: hop-by-hop fields dropped both ways (RFC 9110 §7.6.1), Via,
// X-Forwarded-*, request ids, and duplicate Content-Length refused before anything reaches a backend.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { startBackend, startProxy, echo, request, rawRequest, rawUntilClose, closedWithin, headerValues } from '../helpers/index.ts'
import { LISTENER } from '../helpers/engine.ts'

interface Echoed { name: string, url: string, headers: Record<string, string>, rawHeaders: string[], body: string }

function oneUpstream (url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { upstreams: { a: { servers: [{ url }] } }, routes: [{ upstream: 'a' }], ...extra }
}

/** Lower-case names of the raw header list an echo backend saw. */
function names (e: Echoed): string[] {
  return e.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
}

test('hop-by-hop request headers never reach the backend', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, oneUpstream(backend.url))
  const r = await rawRequest(proxy.port, [
    'GET /h HTTP/1.1',
    'Host: app.test',
    'Connection: close, x-secret',
    'X-Secret: 1',
    'Keep-Alive: timeout=5',
    'TE: trailers',
    // A WebSocket upgrade is carried (test/integration/websocket.test.ts); any other Upgrade is per hop and dropped.
    'Upgrade: h2c',
    'Proxy-Connection: keep-alive',
    'X-Kept: yes',
    '', ''
  ].join('\r\n'))
  r.socket.destroy()
  assert.equal(r.status, 200, r.body.toString())
  const seen = JSON.parse(r.body.toString()) as Echoed
  const got = names(seen)
  for (const h of ['x-secret', 'keep-alive', 'te', 'upgrade', 'proxy-connection']) assert.ok(!got.includes(h), `${h} reached the backend: ${got.join(', ')}`)
  // Connection is the proxy's own, per hop: the client's value must not be passed on.
  assert.ok(!seen.rawHeaders.some((v) => /x-secret/i.test(v)), `x-secret named to the backend: ${JSON.stringify(seen.rawHeaders)}`)
  assert.equal(seen.headers['x-kept'], 'yes')
})

test('hop-by-hop and hidden response headers never reach the client', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume()
    res.writeHead(200, {
      Connection: 'x-internal',
      'X-Internal': 'secret',
      'Keep-Alive': 'timeout=5',
      Server: 'backend/1.0',
      'X-Powered-By': 'php/5',
      'X-Kept': 'yes',
      'Content-Type': 'text/plain',
      'Content-Length': '4'
    })
    res.end('body')
  })
  const proxy = await startProxy(t, oneUpstream(backend.url))
  const r = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: app.test\r\n\r\n')
  r.socket.destroy()
  assert.equal(r.status, 200)
  assert.equal(r.body.toString(), 'body')
  const got = r.headers.map(([n]) => n)
  for (const h of ['x-internal', 'server', 'x-powered-by']) assert.ok(!got.includes(h), `${h} reached the client: ${JSON.stringify(r.headers)}`)
  // The backend's Keep-Alive never passes; node writes its own for the client's hop (nginx does too, with a timeout).
  assert.deepEqual(headerValues(r, 'keep-alive'), LISTENER === 'node' ? ['timeout=10'] : [], JSON.stringify(r.headers))
  assert.ok(!headerValues(r, 'connection').some((v) => /x-internal/i.test(v)), `Connection passed on: ${JSON.stringify(r.headers)}`)
  assert.deepEqual(headerValues(r, 'x-kept'), ['yes'])
  assert.deepEqual(headerValues(r, 'content-length'), ['4'])
  assert.equal(headerValues(r, 'date').length, 1, 'one Date header')
})

test('every Connection header of a response names fields to drop', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume()
    res.writeHead(200, ['Connection', 'x-a', 'Connection', 'x-b', 'X-A', '1', 'X-B', '2', 'X-C', '3', 'Content-Length', '4'])
    res.end('body')
  })
  const proxy = await startProxy(t, oneUpstream(backend.url))
  const r = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: app.test\r\n\r\n')
  r.socket.destroy()
  assert.deepEqual(r.headers.map(([n]) => n).filter((n) => n.startsWith('x-') && n !== 'x-request-id'), ['x-c'])
})

test('Via is added both ways, after any Via already present', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume()
    res.setHeader('content-type', 'application/json')
    if (req.url === '/via') res.setHeader('via', ['1.0 origin', '1.1 origin-cache'])
    res.end(JSON.stringify({ via: req.headers.via }))
  })
  const proxy = await startProxy(t, oneUpstream(backend.url))
  const plain = await request(`${proxy.url}/`)
  assert.deepEqual(JSON.parse(plain.body), { via: '1.1 switchyard' })
  assert.equal(plain.headers.via, '1.1 switchyard')
  const chained = await request(`${proxy.url}/via`, { headers: { via: '1.0 edge' } })
  assert.deepEqual(JSON.parse(chained.body), { via: '1.0 edge, 1.1 switchyard' })
  assert.equal(chained.headers.via, '1.0 origin, 1.1 origin-cache, 1.1 switchyard')
})

test('headers.via: false, preserve_host: false and a custom hide list', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'application/json', server: 'kept/1', 'x-debug': 'internal', via: '1.1 origin' })
    res.end(JSON.stringify({ host: req.headers.host, via: req.headers.via ?? null }))
  })
  const proxy = await startProxy(t, oneUpstream(backend.url, { headers: { via: false, preserve_host: false, hide: ['X-Debug'] } }))
  const plain = await request(`${proxy.url}/`, { headers: { host: 'shop.test' } })
  assert.deepEqual(JSON.parse(plain.body), { host: `127.0.0.1:${backend.port}`, via: null })
  assert.equal(plain.headers['x-debug'], undefined)
  assert.equal(plain.headers.server, 'kept/1')
  assert.equal(plain.headers.via, '1.1 origin')
  const chained = await request(`${proxy.url}/`, { headers: { via: '1.0 edge' } })
  assert.equal((JSON.parse(chained.body) as { via: string }).via, '1.0 edge')
})

test('X-Forwarded-For from an untrusted peer is replaced by the peer address', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, oneUpstream(backend.url))
  const r = await request(`${proxy.url}/`, {
    headers: { host: 'shop.test:8080', 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.test' },
    localAddress: '127.0.0.9'
  })
  const seen = JSON.parse(r.body) as Echoed
  assert.equal(seen.headers['x-forwarded-for'], '127.0.0.9')
  assert.equal(seen.headers['x-forwarded-proto'], 'http')
  assert.equal(seen.headers['x-forwarded-host'], 'shop.test:8080')
  assert.equal(seen.headers.host, 'shop.test:8080')
  // One of each, not the client's plus ours.
  for (const h of ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']) assert.equal(names(seen).filter((n) => n === h).length, 1, h)
})

test('X-Forwarded-For from a trusted proxy is kept and the peer appended', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, oneUpstream(backend.url, { trusted_proxies: ['127.0.0.1'] }))
  const trusted = JSON.parse((await request(`${proxy.url}/`, {
    headers: { host: 'shop.test', 'x-forwarded-for': '203.0.113.7, 10.0.0.2', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'www.shop.test' }
  })).body) as Echoed
  assert.equal(trusted.headers['x-forwarded-for'], '203.0.113.7, 10.0.0.2, 127.0.0.1')
  assert.equal(trusted.headers['x-forwarded-proto'], 'https')
  assert.equal(trusted.headers['x-forwarded-host'], 'www.shop.test')
  // Without a chain, the peer starts one.
  const bare = JSON.parse((await request(`${proxy.url}/`, { headers: { host: 'shop.test' } })).body) as Echoed
  assert.equal(bare.headers['x-forwarded-for'], '127.0.0.1')
  assert.equal(bare.headers['x-forwarded-proto'], 'http')
  assert.equal(bare.headers['x-forwarded-host'], 'shop.test')
  // Another loopback address is not in the list: its chain is replaced.
  const other = JSON.parse((await request(`${proxy.url}/`, { headers: { 'x-forwarded-for': '203.0.113.7' }, localAddress: '127.0.0.2' })).body) as Echoed
  assert.equal(other.headers['x-forwarded-for'], '127.0.0.2')
})

test('x-request-id: a sane one is kept, a missing or unsafe one is generated', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, oneUpstream(backend.url))
  const send = async (id?: string): Promise<{ client: unknown, backend: unknown }> => {
    const r = await request(`${proxy.url}/`, { headers: id === undefined ? {} : { 'x-request-id': id } })
    assert.equal(r.status, 200)
    const seen = JSON.parse(r.body) as Echoed
    assert.equal(names(seen).filter((n) => n === 'x-request-id').length, 1, 'one x-request-id to the backend')
    return { client: r.headers['x-request-id'], backend: seen.headers['x-request-id'] }
  }
  assert.deepEqual(await send('req-7f3a.42:edge@b+1='), { client: 'req-7f3a.42:edge@b+1=', backend: 'req-7f3a.42:edge@b+1=' })
  const generated = new Set<string>()
  for (const bad of [undefined, 'x'.repeat(300), 'has spaces in it', 'quote"d', "it's", '<script>']) {
    const got = await send(bad)
    assert.equal(typeof got.client, 'string', String(bad))
    assert.equal(got.client, got.backend, `client and backend see one id (${String(bad)})`)
    assert.notEqual(got.client, bad)
    assert.match(got.client as string, /^[A-Za-z0-9._:@+=-]{1,128}$/)
    generated.add(got.client as string)
  }
  assert.equal(generated.size, 6, 'each generated id is new')
})

test('two different Content-Length headers: 400, connection closed, nothing reaches the backend', async (t) => {
  let seen = 0
  const backend = await startBackend(t, (req, res) => { seen++; echo()(req, res) })
  const proxy = await startProxy(t, oneUpstream(backend.url))
  for (const raw of [
    'POST /a HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nhello',
    'POST /a HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nContent-Length: 3\r\n\r\nhello'
  ]) {
    const r = await rawRequest(proxy.port, raw)
    assert.equal(r.status, 400, raw)
    assert.equal((JSON.parse(r.body.toString()) as { error: string }).error, 'SWY_BAD_REQUEST')
    assert.equal(r.headers.find(([n]) => n === 'x-request-id')?.[1], (JSON.parse(r.body.toString()) as { request_id: string }).request_id)
    assert.ok(await closedWithin(r.socket, 3000), 'the connection stays open after the 400')
    r.socket.destroy()
  }
  // The smuggling shape: by the first length, what follows is a second, complete request in the same packet.
  // It must never be dispatched; the connection may close before the 400 is written, but nothing else comes back.
  for (const raw of [
    'POST /a HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n',
    'POST /a HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\nContent-Length: 47\r\n\r\nabcGET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n'
  ]) {
    const r = await rawUntilClose(proxy.port, raw, 3000)
    assert.ok(r.closed, `still open after: ${JSON.stringify(r.text)}`)
    assert.ok(r.text === '' || (r.text.startsWith('HTTP/1.1 400 ') && r.text.split('HTTP/1.1 ').length === 2), `answered: ${JSON.stringify(r.text)}`)
  }
  assert.equal(seen, 0)
  // Still serving.
  const ok = await request(`${proxy.url}/after`)
  assert.equal(ok.status, 200)
  assert.equal((JSON.parse(ok.body) as Echoed).url, '/after')
  assert.equal(seen, 1)
})

test('non-ASCII bytes in the path, query and header values reach the backend unchanged', async (t) => {
  // A raw backend: node:http refuses non-ASCII request targets, and we want the exact bytes on the wire.
  let seen = Buffer.alloc(0)
  const backend = createNetServer((c) => {
    c.on('data', (d: Buffer) => {
      seen = Buffer.concat([seen, d])
      if (seen.includes('\r\n\r\n')) c.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    })
  }).listen(0, '127.0.0.1')
  await once(backend, 'listening')
  t.after(() => { backend.close() })
  const proxy = await startProxy(t, oneUpstream(`http://127.0.0.1:${(backend.address() as AddressInfo).port}`))
  const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8')
  if (LISTENER === 'node') {
    // node's parser (llhttp, strict) takes only ASCII in the request target (RFC 9112 §3.2: clients percent-encode):
    // 400, and nothing reaches the backend. Header values keep their bytes, as on uWS.
    const raw = await rawRequest(proxy.port, utf8('GET /café?q=€ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))
    raw.socket.destroy()
    assert.equal(raw.status, 400)
    assert.equal(seen.length, 0)
  }
  const target = LISTENER === 'node' ? '/caf%C3%A9?q=%E2%82%AC' : '/café?q=€'
  const r = await rawRequest(proxy.port, Buffer.concat([
    utf8(`GET ${target} HTTP/1.1\r\nHost: x\r\nX-Mid: café au lait\r\nConnection: close\r\n\r\n`)
  ]))
  assert.equal(r.status, 200)
  r.socket.destroy()
  assert.ok(seen.subarray(0, seen.indexOf('\r\n')).equals(utf8(`GET ${target} HTTP/1.1`)), seen.toString('latin1'))
  assert.ok(seen.includes(utf8('\r\nx-mid: café au lait\r\n')), seen.toString('latin1'))
})
