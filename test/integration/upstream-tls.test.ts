// TLS to backends through real processes: node:https backends with certificates from a CA made at test time.
// Verified against `ca`; refused (502 SWY_UPSTREAM_TLS, nothing about the backend in the body) without it; accepted
// with verify: false (and warned about); servername overrides SNI and the name checked; a client certificate for
// mutual TLS; active health checks use the same settings.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:https'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { startProxy, request, waitFor, type ProxyHandle } from '../helpers/index.ts'
import { createPki, type CertFiles } from '../helpers/certs.ts'

interface Seen { servername: string | false | null, host: string | string[] | undefined, ua: string | undefined, client: string | string[] | undefined }

interface HttpsBackend { readonly url: string, readonly port: number, readonly seen: Seen[] }

/** A node:https backend on 127.0.0.1 answering 200 `hello`; records each request's SNI, Host and client cert. */
async function startHttpsBackend (t: { after: (fn: () => unknown) => void }, files: CertFiles, o: { clientCa?: string } = {}): Promise<HttpsBackend> {
  const seen: Seen[] = []
  const server: Server = createServer({
    cert: readFileSync(files.cert),
    key: readFileSync(files.key),
    ...(o.clientCa === undefined ? {} : { ca: readFileSync(o.clientCa), requestCert: true, rejectUnauthorized: true })
  }, (req: IncomingMessage, res: ServerResponse) => {
    const sock = req.socket as TLSSocket
    const peer = sock.getPeerCertificate()
    seen.push({ servername: sock.servername, host: req.headers.host, ua: req.headers['user-agent'], client: peer?.subject?.CN })
    res.end('hello')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  t.after(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { url: `https://127.0.0.1:${port}`, port, seen }
}

function config (url: string, tls?: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    upstreams: { app: { servers: [{ url }], retries: 0, ...(tls === undefined ? {} : { tls }), ...extra } },
    routes: [{ upstream: 'app' }]
  }
}

async function serverStatus (proxy: ProxyHandle): Promise<{ healthy: boolean, reason?: string }> {
  const r = await request(`${proxy.adminUrl}/api/status`)
  const s = JSON.parse(r.body) as { upstreams: { app: { servers: Array<{ healthy: boolean, reason?: string }> } } }
  return s.upstreams.app.servers[0]!
}

test('https:// server verified against tls.ca: proxied; no SNI for an IP address, never the client\'s Host', async (t) => {
  const pki = createPki(t)
  const backend = await startHttpsBackend(t, pki.issue('backend', { sans: ['DNS:localhost', 'IP:127.0.0.1'] }))
  const proxy = await startProxy(t, config(backend.url, { ca: pki.ca }))
  for (const host of ['www.client.test', 'other.client.test']) {
    const r = await request(`${proxy.url}/x`, { headers: { host } })
    assert.equal(r.status, 200, r.body)
    assert.equal(r.body, 'hello')
  }
  assert.deepEqual(backend.seen.map((s) => [s.servername, s.host]), [[false, 'www.client.test'], [false, 'other.client.test']])
})

test('without the CA the certificate is refused: 502 SWY_UPSTREAM_TLS, and the body says nothing about the backend', async (t) => {
  const pki = createPki(t)
  const backend = await startHttpsBackend(t, pki.issue('backend', { sans: ['DNS:localhost', 'IP:127.0.0.1'] }))
  const proxy = await startProxy(t, config(backend.url))
  const r = await request(`${proxy.url}/x`)
  assert.equal(r.status, 502)
  const body = JSON.parse(r.body) as { error: string }
  assert.equal(body.error, 'SWY_UPSTREAM_TLS')
  assert.doesNotMatch(r.body, new RegExp(`127\\.0\\.0\\.1|${backend.port}|certificate|UNABLE`, 'i'))
  assert.equal(backend.seen.length, 0)
  // The cause is in the log, beside the request id.
  await waitFor(() => proxy.logs.some((l) => l.code === 'SWY_UPSTREAM_TLS' && JSON.stringify(l.cause ?? '').includes('UNABLE_TO_VERIFY_LEAF_SIGNATURE')), 'the log line with the cause')

  // Signed by another CA than the one configured: refused too.
  const other = pki.otherCa()
  const stranger = await startHttpsBackend(t, other.issue('stranger', { sans: ['IP:127.0.0.1'] }))
  const proxy2 = await startProxy(t, config(stranger.url, { ca: pki.ca }))
  const r2 = await request(`${proxy2.url}/`)
  assert.equal(r2.status, 502)
  assert.equal((JSON.parse(r2.body) as { error: string }).error, 'SWY_UPSTREAM_TLS')
})

test('verify: false accepts any certificate and is logged as a warning at start', async (t) => {
  const pki = createPki(t)
  const other = pki.otherCa()
  const backend = await startHttpsBackend(t, other.issue('stranger', { sans: ['DNS:nowhere.test'] }))
  const proxy = await startProxy(t, config(backend.url, { verify: false }))
  const r = await request(`${proxy.url}/`)
  assert.equal(r.status, 200, r.body)
  assert.ok(proxy.logs.some((l) => l.level === 40 && l.path === 'upstreams.app.tls.verify'), 'a warning names upstreams.app.tls.verify')
})

test('servername: sent as SNI and checked against the certificate instead of the URL\'s host', async (t) => {
  const pki = createPki(t)
  // Only the name, no IP address: reached by IP, it verifies only with servername.
  const backend = await startHttpsBackend(t, pki.issue('backend.test'))
  const without = await startProxy(t, config(backend.url, { ca: pki.ca }))
  const r1 = await request(`${without.url}/`)
  assert.equal(r1.status, 502)
  assert.equal((JSON.parse(r1.body) as { error: string }).error, 'SWY_UPSTREAM_TLS')

  const proxy = await startProxy(t, config(backend.url, { ca: pki.ca, servername: 'backend.test' }))
  const r2 = await request(`${proxy.url}/`, { headers: { host: 'public.example' } })
  assert.equal(r2.status, 200, r2.body)
  assert.deepEqual(backend.seen.at(-1), { servername: 'backend.test', host: 'public.example', ua: undefined, client: undefined })
})

test('a client certificate for a backend that requires one (mutual TLS)', async (t) => {
  const pki = createPki(t)
  const backend = await startHttpsBackend(t, pki.issue('backend', { sans: ['IP:127.0.0.1'] }), { clientCa: pki.ca })
  const client = pki.issue('switchyard-client')
  const refused = await startProxy(t, config(backend.url, { ca: pki.ca }))
  const r1 = await request(`${refused.url}/`)
  assert.equal(r1.status, 502, 'no client certificate: the backend ends the handshake')
  const proxy = await startProxy(t, config(backend.url, { ca: pki.ca, cert: client.cert, key: client.key }))
  const r2 = await request(`${proxy.url}/`)
  assert.equal(r2.status, 200, r2.body)
  assert.equal(backend.seen.at(-1)?.client, 'switchyard-client')
})

test('active health checks of an https:// server use the upstream\'s TLS settings', async (t) => {
  const pki = createPki(t)
  const backend = await startHttpsBackend(t, pki.issue('backend.test'))
  const health = { health: { path: '/healthz', interval: '100ms', timeout: '1s', unhealthy: 1, healthy: 1 } }
  // With the CA and servername the probes pass.
  const good = await startProxy(t, config(backend.url, { ca: pki.ca, servername: 'backend.test' }, health))
  await waitFor(() => backend.seen.filter((s) => s.ua === 'switchyard-health').length >= 3, 'three probes')
  const probes = backend.seen.filter((s) => s.ua === 'switchyard-health')
  assert.ok(probes.every((p) => p.servername === 'backend.test'), JSON.stringify(probes))
  const st = await serverStatus(good)
  assert.equal(st.healthy, true)
  assert.equal(st.reason, undefined)
  assert.equal((await request(`${good.url}/`)).status, 200)
  await good.close()

  // Without the CA the probes fail on the certificate, and the server goes down.
  const bad = await startProxy(t, config(backend.url, { servername: 'backend.test' }, health))
  const s = await waitFor(async () => { const x = await serverStatus(bad); return x.healthy ? false : x }, 'the server to be marked down')
  assert.match(s.reason ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE/)
  assert.equal((await request(`${bad.url}/`)).status, 503)
})
