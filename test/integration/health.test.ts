// Active health checks through real processes: the primary probes each server, a failing server gets no new
// requests until it passes again, a new worker starts with the current health, and with every server down the
// proxy answers 503 SWY_NO_HEALTHY_UPSTREAM (or, with fail_open, keeps forwarding).
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { startBackend, startProxy, request, waitFor, type BackendHandle, type ProxyHandle } from '../helpers/index.ts'

interface Server {
  readonly name: string
  readonly backend: BackendHandle
  /** What /healthz answers; 0 = no answer at all (the probe times out). */
  status: number
  probes: number
}

async function servers (t: TestContext, names: readonly string[]): Promise<Server[]> {
  return await Promise.all(names.map(async (name) => {
    const s: Server = { name, backend: undefined as unknown as BackendHandle, status: 200, probes: 0 }
    ;(s as { backend: BackendHandle }).backend = await startBackend(t, (req, res) => {
      req.resume()
      if (req.url === '/healthz') {
        s.probes++
        if (s.status !== 0) { res.statusCode = s.status; res.end() }
        return
      }
      res.end(name)
    })
    return s
  }))
}

const HEALTH = { path: '/healthz', interval: '100ms', timeout: '300ms', healthy: 2, unhealthy: 2 }

function config (all: readonly Server[], health: Record<string, unknown> = HEALTH): Record<string, unknown> {
  return {
    upstreams: { web: { servers: all.map((s) => ({ url: s.backend.url })), health } },
    routes: [{ upstream: 'web' }],
    log: { access: false }
  }
}

/** Names of the servers that answered `n` sequential requests, or the error code when the proxy answered itself. */
async function spread (proxy: ProxyHandle, n: number): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const r = await request(`${proxy.url}/`)
    out.push(r.status === 200 ? r.body : `${r.status} ${String(JSON.parse(r.body).error)}`)
  }
  return out
}

test('a server failing its checks gets no requests until it passes again; a new worker starts with that state', async (t) => {
  const all = await servers(t, ['a', 'b', 'c'])
  const proxy = await startProxy(t, config(all), { args: ['--workers', '2'] })
  await waitFor(() => all.every((s) => s.probes >= 2), 'every server probed')
  assert.deepEqual(new Set(await spread(proxy, 12)), new Set(['a', 'b', 'c']))

  all[1]!.status = 503
  await waitFor(() => proxy.logs.some((l) => l.msg === 'server failed its health checks; no new requests go to it' && l.server === all[1]!.backend.url), 'b marked down')
  // The broadcast and the log line leave the primary together; a request right after may still be in flight.
  await waitFor(async () => !(await spread(proxy, 6)).includes('b'), 'b out of rotation')
  const without = await spread(proxy, 30)
  assert.ok(!without.includes('b'), `b still served: ${without.join(',')}`)
  assert.deepEqual(new Set(without), new Set(['a', 'c']))

  // A replacement worker learns b is down from the primary before it serves anything.
  const [victim] = proxy.workerPids()
  process.kill(victim!, 'SIGKILL')
  await waitFor(() => proxy.workerPids().length === 2 && !proxy.workerPids().includes(victim!), 'a replacement worker')
  await waitFor(() => proxy.logs.filter((l) => l.msg === 'worker died; replacing it').length === 1, 'the replacement noted')
  const after = await spread(proxy, 30)
  assert.ok(!after.includes('b'), `b served after a worker restart: ${after.join(',')}`)

  all[1]!.status = 200
  await waitFor(async () => (await spread(proxy, 6)).includes('b'), 'b back in rotation')
  // The line leaves the primary with the broadcast that put b back; it may be read from its stdout a moment later.
  await waitFor(() => proxy.logs.some((l) => l.msg === 'server is healthy again' && l.server === all[1]!.backend.url), 'the log line saying b is healthy again', 5000)
})

test('probe timeouts, refused connections and statuses outside expect all count as failures', async (t) => {
  const all = await servers(t, ['a', 'b', 'c', 'd'])
  const proxy = await startProxy(t, config(all, { ...HEALTH, expect: '200-204' }))
  all[0]!.status = 0 // never answers: the 300 ms timeout
  await all[1]!.backend.close() // refused
  all[2]!.status = 302 // outside 200-204
  const downs = (): string[] => proxy.logs.filter((l) => l.msg === 'server failed its health checks; no new requests go to it').map((l) => String(l.reason))
  await waitFor(() => downs().length === 3, 'three servers down', 10_000)
  const reasons = downs()
  assert.ok(reasons.some((r) => r.includes('no answer within 300 ms')), reasons.join(' | '))
  assert.ok(reasons.some((r) => r.includes('ECONNREFUSED')), reasons.join(' | '))
  assert.ok(reasons.includes('status 302'), reasons.join(' | '))
  await waitFor(async () => (await spread(proxy, 8)).every((n) => n === 'd'), 'only d served')
})

test('every server down: 503 SWY_NO_HEALTHY_UPSTREAM, and back to serving once one passes', async (t) => {
  const all = await servers(t, ['a', 'b'])
  const proxy = await startProxy(t, config(all))
  for (const s of all) s.status = 500
  await waitFor(async () => (await spread(proxy, 2)).every((r) => r === '503 SWY_NO_HEALTHY_UPSTREAM'), '503 once all are down')
  assert.ok(proxy.logs.some((l) => l.msg === 'every server is down: answering 503'))
  all[0]!.status = 200
  await waitFor(async () => (await spread(proxy, 4)).every((r) => r === 'a'), 'a serves again')
})

test('fail_open: with every server down, requests still go to them', async (t) => {
  const all = await servers(t, ['a', 'b'])
  const proxy = await startProxy(t, config(all, { ...HEALTH, fail_open: true }))
  for (const s of all) s.status = 500
  await waitFor(() => proxy.logs.some((l) => l.msg === 'every server is down: failing open'), 'all down, failing open')
  const got = await spread(proxy, 10)
  assert.deepEqual(new Set(got), new Set(['a', 'b']))
  // One server passing again: only it gets traffic (fail-open only applies while none is healthy).
  all[1]!.status = 200
  await waitFor(async () => (await spread(proxy, 6)).every((r) => r === 'b'), 'only b once it is healthy')
})
