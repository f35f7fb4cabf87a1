// GET /metrics through real processes: traffic that moves each family, parsed by a Prometheus text parser that is
// not ours; the token rules of the admin API; OpenMetrics on request; totals that survive a worker's SIGKILL and a
// reload; metrics.enabled: false.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { startBackend, startProxy, freePort, request, waitFor, isAlive, type Handler } from '../helpers/index.ts'
import { startRedis } from '../helpers/redis.ts'
import { createPki } from '../helpers/certs.ts'
import { scrape, value, histCount, series, bucketBounds, type Families } from '../helpers/metrics.ts'
import { startWsBackend, mustOpen, nextMessage, closed, wsUrl } from '../helpers/websocket.ts'

const TOKEN = 'metrics-test-token-0123456789'

const app: Handler = (req, res) => {
  if (req.url === '/slow') return // never answers: the upstream timeout
  req.resume()
  req.on('end', () => {
    res.setHeader('cache-control', 'max-age=60')
    res.end(req.url === '/healthz' ? 'ok' : 'hello')
  })
}

async function closedPort (): Promise<number> {
  const s = createNetServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address() as AddressInfo
  s.close()
  return port
}

async function until (adminUrl: string, ok: (f: Families) => boolean, what: string): Promise<Families> {
  let last: Families = []
  return await waitFor(async () => { last = await scrape(adminUrl, TOKEN); return ok(last) ? last : undefined }, what, 15_000, 100)
    .catch((err: Error) => { throw new Error(`${err.message}\n${JSON.stringify(last.filter((x) => x.name.startsWith('switchyard_')).map((x) => [x.name, x.metrics]))}`) })
}

test('every family moves with the traffic that should move it, and parses as Prometheus text', async (t) => {
  const backend = await startBackend(t, app)
  const dead = await closedPort()
  const proxy = await startProxy(t, {
    admin: { token: TOKEN },
    upstreams: {
      web: { servers: [{ url: backend.url }], health: { path: '/healthz', interval: '100ms', timeout: '300ms', healthy: 1, unhealthy: 1 } },
      flaky: { servers: [{ url: `http://127.0.0.1:${dead}` }, { url: backend.url }], balance: 'round-robin', retries: 1, passive: { failures: 1 } },
      slow: { servers: [{ url: backend.url }], timeouts: { response: '200ms' } }
    },
    routes: [
      { match: { path: '/limited/' }, upstream: 'web', rate_limit: { key: 'route', rate: '1/m', burst: 1 } },
      { match: { path: '/denied/' }, upstream: 'web', deny: ['127.0.0.0/8'] },
      { match: { path: '/cached/' }, upstream: 'web', cache: {} },
      { match: { path: '/flaky/' }, upstream: 'flaky' },
      { match: { path: '/slow' }, upstream: 'slow' },
      { match: { path: '/' }, upstream: 'web' }
    ]
  })
  // The token rules of the admin API.
  assert.equal((await fetch(`${proxy.adminUrl}/metrics`)).status, 401)
  assert.equal((await fetch(`${proxy.adminUrl}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 401)

  for (let i = 0; i < 3; i++) assert.equal((await request(`${proxy.url}/a`)).status, 200)
  assert.equal((await request(`${proxy.url}/a`, { method: 'POST', body: 'x'.repeat(100) })).status, 200)
  assert.equal((await request(`${proxy.url}/limited/x`)).status, 200)
  assert.equal((await request(`${proxy.url}/limited/x`)).status, 429)
  assert.equal((await request(`${proxy.url}/denied/x`)).status, 403)
  assert.equal((await request(`${proxy.url}/cached/x`)).headers['x-cache'], 'MISS')
  assert.equal((await request(`${proxy.url}/cached/x`)).headers['x-cache'], 'HIT')
  // Round robin starts on the dead server at least once in two requests: a connect failure, then a retry.
  for (let i = 0; i < 2; i++) assert.equal((await request(`${proxy.url}/flaky/x`)).status, 200)
  assert.equal((await request(`${proxy.url}/slow`)).status, 504)

  const web = { upstream: 'web', server: backend.url }
  const f = await until(proxy.adminUrl, (f) => value(f, 'switchyard_requests_total', { route: '/slow', code: '504' }) === 1 &&
    value(f, 'switchyard_requests_total', { route: '/', upstream: 'web', code: '200' }) === 4, 'the requests in /metrics')
  const r = (route: string, code: string): number => value(f, 'switchyard_requests_total', { route, code })
  assert.equal(r('/limited/', '429'), 1)
  assert.equal(r('/denied/', '403'), 1)
  assert.equal(r('/cached/', '200'), 2)
  assert.equal(r('/flaky/', '200'), 2)
  assert.equal(histCount(f, 'switchyard_request_duration_seconds', { route: '/', upstream: 'web' }), 4)
  // A sub-millisecond bucket exists (0.25 ms), and the largest finite one is 60 s.
  const buckets = bucketBounds(f, 'switchyard_request_duration_seconds')
  assert.ok(buckets.includes('0.00025') && buckets.includes('60') && buckets.includes('+Inf'), buckets.join(' '))
  // The TTFB of the backend: the four / requests, the two /limited/ and /cached/ misses' one... at least the four.
  assert.ok(histCount(f, 'switchyard_upstream_ttfb_seconds', web) >= 4, JSON.stringify(series(f, 'switchyard_upstream_ttfb_seconds')))
  assert.equal(value(f, 'switchyard_request_body_bytes_total', { route: '/' }), 100)
  assert.ok(value(f, 'switchyard_response_body_bytes_total', { route: '/' }) >= 4 * 5)
  const deadUrl = `http://127.0.0.1:${dead}`
  assert.ok(value(f, 'switchyard_upstream_connect_failures_total', { upstream: 'flaky', server: deadUrl }) >= 1)
  assert.ok(value(f, 'switchyard_upstream_retries_total', { upstream: 'flaky', server: deadUrl }) >= 1)
  assert.equal(value(f, 'switchyard_upstream_timeouts_total', { upstream: 'slow' }), 1)
  assert.equal(value(f, 'switchyard_ratelimit_limited_total', { route: '/limited/' }), 1)
  assert.equal(value(f, 'switchyard_ratelimit_admitted_total', { route: '/limited/' }), 1)
  assert.equal(value(f, 'switchyard_access_denied_total', { route: '/denied/' }), 1)
  assert.equal(value(f, 'switchyard_cache_requests_total', { route: '/cached/', result: 'miss' }), 1)
  assert.equal(value(f, 'switchyard_cache_requests_total', { route: '/cached/', result: 'hit' }), 1)
  assert.equal(value(f, 'switchyard_cache_fills_total'), 1)
  assert.ok(value(f, 'switchyard_cache_memory_bytes') > 0)
  assert.equal(value(f, 'switchyard_cache_memory_entries'), 1)
  // Rate limit and cache went through the embedded store.
  assert.ok(value(f, 'switchyard_state_operations_total', { kind: 'embedded' }) >= 1, JSON.stringify(series(f, 'switchyard_state_operations_total')))
  assert.ok(histCount(f, 'switchyard_state_operation_seconds', { kind: 'embedded' }) >= 1)
  assert.equal(value(f, 'switchyard_upstream_ejections_total', { upstream: 'flaky', server: deadUrl }) >= 1, true)
  assert.equal(value(f, 'switchyard_upstream_server_up', web), 1)
  assert.equal(value(f, 'switchyard_config_generation'), 1)
  assert.equal(value(f, 'switchyard_workers', { state: 'serving' }), 1)
  assert.ok(value(f, 'switchyard_worker_cpu_seconds_total') > 0)
  assert.ok(value(f, 'switchyard_worker_resident_memory_bytes') > 10e6)
  assert.equal(f.find((x) => x.name === 'switchyard_worker_event_loop_delay_seconds')!.metrics.length, 3)
  assert.equal(value(f, 'switchyard_inflight_requests'), 0)
  // Every family is ours, typed and documented.
  for (const fam of f.filter((x) => x.type !== 'UNTYPED')) {
    assert.match(fam.name, /^switchyard_/)
    assert.notEqual(fam.type, 'UNTYPED', fam.name)
    assert.ok(fam.help.length > 10, fam.name)
  }

  // An open connection shows on its listener; the backend going away turns its server down (active checks).
  const { connect } = await import('node:net')
  const sock = connect(proxy.port, '127.0.0.1')
  await once(sock, 'connect')
  t.after(() => { sock.destroy() })
  await until(proxy.adminUrl, (f) => value(f, 'switchyard_open_connections', { listener: `127.0.0.1:${proxy.port}` }) >= 1, 'an open connection')
  await backend.close()
  await until(proxy.adminUrl, (f) => value(f, 'switchyard_upstream_server_up', web) === 0, 'the server down')

  // OpenMetrics when asked.
  const om = await fetch(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}`, accept: 'application/openmetrics-text; version=1.0.0' } })
  assert.match(om.headers.get('content-type') ?? '', /^application\/openmetrics-text/)
  const text = await om.text()
  assert.ok(text.endsWith('# EOF\n'))
  assert.match(text, /^switchyard_requests_total\{route="\/",upstream="web",code="200"\} 4$/m)
})

test('WebSockets by route: open sockets now, and messages and bytes each way', async (t) => {
  const backend = await startWsBackend(t)
  const proxy = await startProxy(t, {
    admin: { token: TOKEN },
    upstreams: { live: { servers: [{ url: backend.url }] } },
    routes: [{ match: { path: '/live/' }, upstream: 'live' }, { match: { path: '/' }, upstream: 'live' }]
  })
  // Until a worker has reported, a family may not be there yet.
  const seen = (f: Families, name: string, labels: Record<string, string>): number => { try { return value(f, name, labels) } catch { return -1 } }
  const open = (f: Families): number => seen(f, 'switchyard_websockets_open', { route: '/live/' })
  const a = await mustOpen(t, wsUrl(proxy.url, '/live/a'))
  const b = await mustOpen(t, wsUrl(proxy.url, '/live/b'))
  for (const [ws, text] of [[a, 'hello'], [a, 'again'], [b, 'x'.repeat(1000)]] as const) {
    ws.send(text)
    assert.equal((await nextMessage(ws)).data.toString(), text)
  }
  const f = await until(proxy.adminUrl, (f) => open(f) === 2 && seen(f, 'switchyard_websocket_messages_total', { route: '/live/', direction: 'out' }) === 3, 'two open sockets and three echoes')
  assert.equal(value(f, 'switchyard_websocket_messages_total', { route: '/live/', direction: 'in' }), 3)
  assert.equal(value(f, 'switchyard_websocket_bytes_total', { route: '/live/', direction: 'in' }), 1010)
  assert.equal(value(f, 'switchyard_websocket_bytes_total', { route: '/live/', direction: 'out' }), 1010)
  assert.equal(value(f, 'switchyard_websockets_open', { route: '/' }), 0)
  a.close(1000)
  await closed(a)
  await until(proxy.adminUrl, (f) => open(f) === 1, 'one socket left open')
  b.close(1000)
  await closed(b)
  await until(proxy.adminUrl, (f) => open(f) === 0, 'no socket open')
})

test('totals survive a worker SIGKILL and a reload; a failed reload is counted', async (t) => {
  const backend = await startBackend(t, app)
  const cfg = { admin: { token: TOKEN }, upstreams: { web: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'web' }] }
  const proxy = await startProxy(t, cfg)
  const total = (f: Families): number => value(f, 'switchyard_requests_total', { code: '200' })
  for (let i = 0; i < 5; i++) assert.equal((await request(`${proxy.url}/x`)).status, 200)
  await until(proxy.adminUrl, (f) => total(f) === 5, '5 requests')
  const [pid] = proxy.workerPids()
  process.kill(pid!, 'SIGKILL')
  await waitFor(() => !isAlive(pid!) && proxy.workerPids().length === 1 && proxy.workerPids()[0] !== pid, 'a replacement worker')
  let f = await until(proxy.adminUrl, (f) => value(f, 'switchyard_worker_restarts_total') === 1 && value(f, 'switchyard_workers', { state: 'serving' }) === 1, 'the restart counted')
  assert.equal(total(f), 5, 'the dead worker\'s requests are still counted')
  for (let i = 0; i < 3; i++) assert.equal((await request(`${proxy.url}/x`)).status, 200)
  await until(proxy.adminUrl, (f) => total(f) === 8, '8 requests')

  // A reload: new workers, same totals, and theirs added.
  const reload = await fetch(`${proxy.adminUrl}/api/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })
  assert.equal(reload.status, 200)
  f = await until(proxy.adminUrl, (f) => value(f, 'switchyard_config_generation') === 2, 'generation 2')
  assert.equal(total(f), 8)
  assert.equal(value(f, 'switchyard_config_reloads_total', { result: 'ok' }), 1)
  for (let i = 0; i < 2; i++) assert.equal((await request(`${proxy.url}/x`)).status, 200)
  await until(proxy.adminUrl, (f) => total(f) === 10, '10 requests')
  proxy.rewrite('{ not json')
  assert.equal((await fetch(`${proxy.adminUrl}/api/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })).status, 422)
  f = await scrape(proxy.adminUrl, TOKEN)
  assert.equal(value(f, 'switchyard_config_reloads_total', { result: 'failed' }), 1)
  assert.equal(total(f), 10)
})

test('bans, a listener certificate\'s expiry, purges, and Redis operations and faults by kind', async (t) => {
  const pki = createPki(t)
  const cert = pki.issue('localhost', { days: 30 })
  const redis = await startRedis(t)
  const backend = await startBackend(t, app)
  const [plain, secure] = [await freePort(), await freePort()]
  const proxy = await startProxy(t, {
    listen: [{ host: '127.0.0.1', port: plain }, { host: '127.0.0.1', port: secure, tls: { cert: cert.cert, key: cert.key } }],
    admin: { token: TOKEN },
    state: { redis: redis.url, timeout: '200ms' },
    upstreams: { web: { servers: [{ url: backend.url }] } },
    routes: [
      { match: { path: '/limited' }, upstream: 'web', rate_limit: { key: 'ip', rate: '1/m', burst: 1, ban: { after: 2, within: '1m', for: '1m' } } },
      { match: { path: '/cached/' }, upstream: 'web', cache: {} },
      { match: { path: '/' }, upstream: 'web' }
    ]
  })
  const url = `http://127.0.0.1:${plain}`
  // 1 admitted, 2 limited (the ban's threshold), then banned everywhere.
  for (let i = 0; i < 3; i++) await request(`${url}/limited`)
  await waitFor(async () => (await request(`${url}/x`)).status === 403, 'the ban')
  let f = await until(proxy.adminUrl, (f) => value(f, 'switchyard_bans_active') === 1 && value(f, 'switchyard_banned_requests_total') >= 1, 'the ban in /metrics')
  assert.equal(value(f, 'switchyard_ratelimit_limited_total', { route: '/limited' }), 2)
  const notAfter = Math.floor(Date.parse(new X509Certificate(readFileSync(cert.cert)).validTo) / 1000)
  assert.equal(value(f, 'switchyard_tls_cert_not_after_seconds', { listener: `127.0.0.1:${secure}`, cert: cert.cert }), notAfter)
  assert.ok(value(f, 'switchyard_state_operations_total', { kind: 'redis' }) >= 1)
  assert.equal(value(f, 'switchyard_workers_crash_looping'), 0)
  const purge = await fetch(`${proxy.adminUrl}/api/cache/purge`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ prefix: `127.0.0.1:${plain}/cached/` }) })
  assert.equal(purge.status, 200)
  f = await scrape(proxy.adminUrl, TOKEN)
  assert.equal(value(f, 'switchyard_cache_purges_total'), 1)
  // Redis down: the rate limit's state calls fail and degrade (the local bucket), and are counted as faults.
  await redis.stop()
  await request(`http://127.0.0.1:${plain}/limited`, { localAddress: '127.0.0.9' }).catch(() => undefined)
  await until(proxy.adminUrl, (f) => value(f, 'switchyard_state_faults_total', { kind: 'redis' }) >= 1, 'a redis fault')
})

test('metrics.enabled: false: no /metrics, and the proxy serves as before', async (t) => {
  const backend = await startBackend(t, app)
  const proxy = await startProxy(t, { metrics: { enabled: false }, upstreams: { web: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'web' }] })
  assert.equal((await request(`${proxy.url}/x`)).status, 200)
  const res = await fetch(`${proxy.adminUrl}/metrics`)
  assert.equal(res.status, 404)
  assert.equal(((await res.json()) as { error: string }).error, 'SWY_ADMIN_NOT_FOUND')
  void freePort
})
