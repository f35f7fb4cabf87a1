// Upstream failures through a real proxy: refused, silent and resetting backends, retries only where safe,
// and a response cut after its headers left, which the client must see as cut.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { get } from 'node:http'
import { startBackend, startProxy, freePort, request, waitFor, type HttpResult } from '../helpers/index.ts'

function oneUpstream (servers: readonly string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { upstreams: { a: { servers: servers.map((url) => ({ url })), ...extra } }, routes: [{ upstream: 'a' }] }
}

/** The local error answer: status, code, and the request id in body and header. */
function assertLocalError (r: HttpResult, status: number, code: string): string {
  assert.equal(r.status, status, r.body)
  assert.match(String(r.headers['content-type']), /^application\/json/)
  const body = JSON.parse(r.body) as { error: string, request_id: string }
  assert.equal(body.error, code)
  const id = r.headers['x-request-id']
  assert.equal(typeof id, 'string')
  assert.equal(body.request_id, id)
  return id as string
}

test('a refused connection is 502 SWY_UPSTREAM_UNREACHABLE, without the backend address', async (t) => {
  const port = await freePort()
  const proxy = await startProxy(t, oneUpstream([`http://127.0.0.1:${port}`]))
  const r = await request(`${proxy.url}/x`)
  const id = assertLocalError(r, 502, 'SWY_UPSTREAM_UNREACHABLE')
  const everything = r.body + JSON.stringify(r.headers)
  assert.ok(!everything.includes(String(port)), `the answer names the backend port: ${everything}`)
  assert.ok(!r.body.includes('127.0.0.1'), `the body names the backend address: ${r.body}`)
  assert.ok(!r.body.includes('ECONNREFUSED'), `the body names the cause: ${r.body}`)
  // The log has what the client doesn't, beside the same id.
  await waitFor(() => proxy.logs.some((l) => l.reqId === id && l.code === 'SWY_UPSTREAM_UNREACHABLE' && l.upstream === `http://127.0.0.1:${port}`), 'the failure logged with its upstream')
})

test('a backend that never answers is 504 SWY_UPSTREAM_TIMEOUT after timeouts.response', async (t) => {
  let seen = 0
  const backend = await startBackend(t, () => { seen++ })
  const proxy = await startProxy(t, oneUpstream([backend.url], { timeouts: { response: '300ms' } }))
  const r = await request(`${proxy.url}/x`)
  assertLocalError(r, 504, 'SWY_UPSTREAM_TIMEOUT')
  // A timeout is not retried: the server may be working on it.
  assert.equal(seen, 1)
})

test('a backend that resets the socket before answering is 502', async (t) => {
  let seen = 0
  const backend = await startBackend(t, (req) => { seen++; req.socket.destroy() })
  const proxy = await startProxy(t, oneUpstream([backend.url]))
  const r = await request(`${proxy.url}/x`)
  assertLocalError(r, 502, 'SWY_UPSTREAM_RESET')
  assert.equal(seen, 1)
})

test('with retries: 2, GETs reach the live server when the other refuses', async (t) => {
  const dead = await freePort()
  let seen = 0
  const live = await startBackend(t, (_req, res) => { seen++; res.end('live') })
  const proxy = await startProxy(t, oneUpstream([`http://127.0.0.1:${dead}`, live.url], { retries: 2, balance: 'round-robin' }))
  for (let i = 0; i < 10; i++) {
    const r = await request(`${proxy.url}/x/${i}`)
    assert.deepEqual({ status: r.status, body: r.body }, { status: 200, body: 'live' }, `request ${i}`)
  }
  assert.equal(seen, 10)
  // The ones that went to the dead server first needed a second attempt; every one ended on the live server.
  const lines = await waitFor(() => { const a = proxy.logs.filter((l) => l.kind === 'access'); return a.length === 10 && a }, 'ten access lines')
  for (const l of lines) assert.equal(l.upstream, live.url)
  assert.ok(lines.some((l) => l.attempts === 2), 'no request was retried')
})

test('a POST is never repeated, even when its server resets before answering', async (t) => {
  let seen = 0
  const resetFirst = async (): Promise<string> => {
    let first = true
    const b = await startBackend(t, (req, res) => {
      seen++
      if (first) { first = false; req.socket.destroy(); return }
      req.resume()
      req.on('end', () => { res.end('ok') })
    })
    return b.url
  }
  const proxy = await startProxy(t, oneUpstream([await resetFirst(), await resetFirst()], { retries: 2 }))
  const r = await request(`${proxy.url}/orders`, { method: 'POST', body: '{"n":1}', headers: { 'content-type': 'application/json' } })
  assertLocalError(r, 502, 'SWY_UPSTREAM_RESET')
  // Both backends count: a retry on the other one would have been seen there.
  assert.equal(seen, 1)
  // A POST without a body is not repeated either.
  const r2 = await request(`${proxy.url}/orders`, { method: 'POST' })
  assert.equal(r2.status, 502, r2.body)
  assert.equal(seen, 2)
})

interface Cut { status: number, bytes: number, complete: boolean, error: string | null }

/** GET on a fresh connection, recording how far the response got instead of rejecting. */
async function getCut (url: string): Promise<Cut> {
  return await new Promise<Cut>((resolve) => {
    const out: Cut = { status: 0, bytes: 0, complete: false, error: null }
    const req = get(url, { agent: false }, (res) => {
      out.status = res.statusCode!
      res.on('data', (c: Buffer) => { out.bytes += c.length })
      res.on('error', (err) => { out.error = (err as NodeJS.ErrnoException).code ?? err.message })
      res.on('close', () => { out.complete = res.complete; resolve(out) })
    })
    req.on('error', (err) => { out.error = (err as NodeJS.ErrnoException).code ?? err.message; resolve(out) })
  })
}

test('a body cut after the headers reaches the client as cut, never as complete', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume()
    const chunked = req.url === '/chunked'
    res.writeHead(200, chunked ? { 'content-type': 'text/plain' } : { 'content-type': 'text/plain', 'content-length': '100000' })
    res.write(Buffer.alloc(10_000, 'a'))
    // Let the head and first bytes leave before the cut.
    setTimeout(() => { res.socket?.destroy() }, 50)
  })
  const proxy = await startProxy(t, oneUpstream([backend.url], { retries: 2 }))
  for (const path of ['/length', '/chunked']) {
    const r = await getCut(`${proxy.url}${path}`)
    assert.equal(r.status, 200, `${path}: the head was relayed`)
    assert.equal(r.complete, false, `${path}: looked complete after ${r.bytes} bytes`)
    assert.ok(r.bytes < 100_000, `${path}: ${r.bytes} bytes`)
    // fetch agrees: reading the body fails.
    const res = await fetch(`${proxy.url}${path}`)
    assert.equal(res.status, 200)
    await assert.rejects(res.arrayBuffer(), `${path}: fetch read a complete body`)
  }
  // The proxy keeps serving.
  const ok = await startBackend(t, (_req, res) => { res.end('fine') })
  const proxy2 = await startProxy(t, oneUpstream([ok.url]))
  assert.equal((await request(proxy2.url)).body, 'fine')
  assert.equal((await request(`${proxy.url}/length`).catch(() => null)), null)
})
