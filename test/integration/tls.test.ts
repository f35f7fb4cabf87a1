// TLS termination through real processes: uWS SSLApp beside a plain listener in one worker, SNI picking the
// certificate (checked by fingerprint), 421 when the Host is not covered by the SNI's certificate, the HTTP→HTTPS
// redirect, bad certificate files refused with their key path, and certificates replaced by a reload.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request as httpsRequest } from 'node:https'
import { connect as tlsConnect, type PeerCertificate } from 'node:tls'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startBackend, startProxy, request, runCli, writeConfig, freePort, echo, waitFor } from '../helpers/index.ts'
import { createPki, type TestPki } from '../helpers/certs.ts'

interface TlsResult {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: string
  readonly fingerprint256: string
}

interface TlsRequest {
  readonly servername?: string
  readonly host?: string
  readonly path?: string
  readonly method?: string
  readonly ca: string
}

/** One HTTPS request on a new connection, verifying the proxy's certificate against `ca` and `servername`. */
async function tlsRequest (port: number, o: TlsRequest): Promise<TlsResult> {
  return await new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1',
      port,
      path: o.path ?? '/',
      method: o.method ?? 'GET',
      agent: false,
      ca: readFileSync(o.ca),
      ...(o.servername === undefined ? {} : { servername: o.servername }),
      headers: { host: o.host ?? `${o.servername ?? '127.0.0.1'}:${port}` }
    }, (res) => {
      const fingerprint256 = (res.socket as unknown as { getPeerCertificate (): PeerCertificate }).getPeerCertificate().fingerprint256
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => { resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString(), fingerprint256 }) })
    })
    // Whether the error came before the TLS handshake ended (a connection the kernel reset while it was queued).
    let secured = false
    req.on('socket', (socket) => { socket.once('secureConnect', () => { secured = true }) })
    req.on('error', (err) => { reject(Object.assign(err, { beforeSecure: !secured })) })
    req.end()
  })
}

/** The certificate the proxy offers for `servername` (none: no SNI), without verifying it. */
async function offered (port: number, servername?: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername === undefined ? {} : { servername }) }, () => {
      const fp = s.getPeerCertificate().fingerprint256
      s.destroy()
      resolve(fp)
    })
    s.on('error', reject)
  })
}

function app (url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { upstreams: { app: { servers: [{ url }] } }, routes: [{ upstream: 'app' }], ...extra }
}

function sniSet (pki: TestPki): { a: ReturnType<TestPki['issue']>, b: ReturnType<TestPki['issue']>, local: ReturnType<TestPki['issue']> } {
  return {
    a: pki.issue('a.test'),
    // An encrypted key: its passphrase goes to uWS with the file names.
    b: pki.issue('*.b.test', { passphrase: 'b-secret' }),
    local: pki.issue('localhost', { sans: ['DNS:localhost', 'IP:127.0.0.1'] })
  }
}

test('a TLS listener and a plain one in one worker: the same routes, X-Forwarded-Proto https on TLS only', async (t) => {
  const pki = createPki(t)
  const { local } = sniSet(pki)
  const backend = await startBackend(t, echo())
  const [plainPort, tlsPort] = [await freePort(), await freePort()]
  const proxy = await startProxy(t, app(backend.url, {
    listen: [{ host: '127.0.0.1', port: plainPort }, { host: '127.0.0.1', port: tlsPort, tls: { cert: local.cert, key: local.key } }]
  }))
  assert.equal(proxy.workerPids().length, 1)

  const s = await tlsRequest(tlsPort, { ca: pki.ca, path: '/x?y=1' })
  assert.equal(s.status, 200)
  assert.equal(s.fingerprint256, local.fingerprint256)
  const seen = JSON.parse(s.body) as { url: string, headers: Record<string, string> }
  assert.equal(seen.url, '/x?y=1')
  assert.equal(seen.headers['x-forwarded-proto'], 'https')

  const p = await request(`http://127.0.0.1:${plainPort}/x`)
  assert.equal(p.status, 200)
  assert.equal((JSON.parse(p.body) as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'http')
  // A client's own X-Forwarded-Proto is replaced (the client is not a trusted proxy).
  const spoofed = await request(`http://127.0.0.1:${plainPort}/x`, { headers: { 'x-forwarded-proto': 'https' } })
  assert.equal((JSON.parse(spoofed.body) as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'http')
})

test('SNI picks the certificate: exact, one-label wildcard, default for no SNI and unknown names', async (t) => {
  const pki = createPki(t)
  const { a, b, local } = sniSet(pki)
  const backendA = await startBackend(t, echo('a'))
  const backendB = await startBackend(t, echo('b'))
  const tlsPort = await freePort()
  await startProxy(t, {
    listen: [{
      host: '127.0.0.1',
      port: tlsPort,
      tls: {
        cert: local.cert,
        key: local.key,
        // Upper case in the config is fine: names are lower-cased for uWS.
        certificates: [{ hosts: ['A.test'], cert: a.cert, key: a.key }, { hosts: ['*.b.test'], cert: b.cert, key: b.key, passphrase: 'b-secret' }]
      }
    }],
    upstreams: { a: { servers: [{ url: backendA.url }] }, b: { servers: [{ url: backendB.url }] } },
    routes: [{ match: { host: 'a.test' }, upstream: 'a' }, { match: { host: '*.b.test' }, upstream: 'b' }]
  })

  const cases: Array<{ sni: string | undefined, expected: string }> = [
    { sni: 'a.test', expected: a.fingerprint256 },
    { sni: 'x.b.test', expected: b.fingerprint256 },
    { sni: undefined, expected: local.fingerprint256 },
    { sni: 'unknown.test', expected: local.fingerprint256 },
    { sni: 'b.test', expected: local.fingerprint256 }, // the wildcard covers one label, not the apex
    { sni: 'y.x.b.test', expected: local.fingerprint256 } // nor two labels
  ]
  for (const c of cases) assert.equal(await offered(tlsPort, c.sni), c.expected, `SNI ${String(c.sni)}`)

  // Requests under an SNI name are routed (uWS starts each server name with an empty router).
  const ra = await tlsRequest(tlsPort, { servername: 'a.test', ca: pki.ca })
  assert.equal(ra.status, 200)
  assert.equal((JSON.parse(ra.body) as { name: string }).name, 'a')
  const rb = await tlsRequest(tlsPort, { servername: 'x.b.test', ca: pki.ca, path: '/p' })
  assert.equal(rb.status, 200)
  assert.equal((JSON.parse(rb.body) as { name: string }).name, 'b')
  assert.equal(rb.fingerprint256, b.fingerprint256)
  // No SNI (an IP address): the default certificate, routing by Host as usual.
  const rd = await tlsRequest(tlsPort, { ca: pki.ca, host: 'a.test' })
  assert.equal(rd.status, 200)
  assert.equal((JSON.parse(rd.body) as { name: string }).name, 'a')
})

test('SNI of one certificate with the Host of another: 421 SWY_MISDIRECTED, and the connection closes', async (t) => {
  const pki = createPki(t)
  const { a, b, local } = sniSet(pki)
  const backend = await startBackend(t, echo())
  const tlsPort = await freePort()
  await startProxy(t, app(backend.url, {
    listen: [{
      host: '127.0.0.1',
      port: tlsPort,
      tls: { cert: local.cert, key: local.key, certificates: [{ hosts: ['a.test'], cert: a.cert, key: a.key }, { hosts: ['*.b.test'], cert: b.cert, key: b.key, passphrase: 'b-secret' }] }
    }]
  }))
  const r = await tlsRequest(tlsPort, { servername: 'a.test', host: 'x.b.test', ca: pki.ca })
  assert.equal(r.status, 421)
  const body = JSON.parse(r.body) as { error: string, request_id: string }
  assert.equal(body.error, 'SWY_MISDIRECTED')
  assert.ok(body.request_id.length > 0)
  assert.equal(r.headers['x-request-id'], body.request_id)
  // The connection closes after the 421, so the client retries on a new one (RFC 9110 §15.5.20).
  const raw = await new Promise<{ text: string, ended: boolean }>((resolve, reject) => {
    const sock = tlsConnect({ host: '127.0.0.1', port: tlsPort, servername: 'a.test', ca: readFileSync(pki.ca) }, () => {
      sock.write('GET / HTTP/1.1\r\nHost: x.b.test\r\n\r\n')
    })
    let text = ''
    const timer = setTimeout(() => { sock.destroy(); resolve({ text, ended: false }) }, 5000)
    sock.on('data', (d: Buffer) => { text += d.toString() })
    sock.on('end', () => { clearTimeout(timer); sock.destroy(); resolve({ text, ended: true }) })
    sock.on('error', reject)
  })
  assert.match(raw.text, /^HTTP\/1\.1 421 /)
  assert.ok(raw.ended, 'closed by the proxy')
  // The Host's port and case do not matter.
  assert.equal((await tlsRequest(tlsPort, { servername: 'a.test', host: `A.TEST:${tlsPort}`, ca: pki.ca })).status, 200)
  assert.equal((await tlsRequest(tlsPort, { servername: 'z.b.test', host: 'z.b.test', ca: pki.ca })).status, 200)
  assert.equal((await tlsRequest(tlsPort, { servername: 'z.b.test', host: 'q.b.test', ca: pki.ca })).status, 200, 'both under the same wildcard entry')
})

test('redirect_https: 308 to the same path on the HTTPS port for hosts served over TLS; 421 or the fallback for others', async (t) => {
  const pki = createPki(t)
  const { a, local } = sniSet(pki)
  let hits = 0
  const handler = echo()
  const backend = await startBackend(t, (req, res) => { hits++; handler(req, res) })
  const [httpPort, fallbackPort, tlsPort] = [await freePort(), await freePort(), await freePort()]
  await startProxy(t, {
    listen: [
      { host: '127.0.0.1', port: httpPort, redirect_https: tlsPort },
      { host: '127.0.0.1', port: fallbackPort, redirect_https: { port: 443, host: 'www.example.com', status: 301 } },
      { host: '127.0.0.1', port: tlsPort, tls: { cert: local.cert, key: local.key, certificates: [{ hosts: ['a.test'], cert: a.cert, key: a.key }] } }
    ],
    upstreams: { app: { servers: [{ url: backend.url }] } },
    routes: [{ match: { host: 'api.example.com' }, upstream: 'app' }, { upstream: 'app' }]
  })
  const cases: Array<{ host: string, method?: string, path: string, status: number, location?: string }> = [
    { host: `a.test:${httpPort}`, path: '/p/q?x=1&y=%20', status: 308, location: `https://a.test:${tlsPort}/p/q?x=1&y=%20` },
    { host: 'A.Test', method: 'POST', path: '/form', status: 308, location: `https://a.test:${tlsPort}/form` },
    // Covered by the default certificate's names (DNS:localhost, IP:127.0.0.1).
    { host: 'localhost', path: '/', status: 308, location: `https://localhost:${tlsPort}/` },
    { host: `127.0.0.1:${httpPort}`, path: '/', status: 308, location: `https://127.0.0.1:${tlsPort}/` },
    // Named by a route.
    { host: 'api.example.com', path: '/v1', status: 308, location: `https://api.example.com:${tlsPort}/v1` },
    // Not served over TLS here: no redirect to a host the client made up.
    { host: 'evil.example', path: '/', status: 421 },
    { host: 'a.test@evil.example', path: '/', status: 421 }
  ]
  for (const c of cases) {
    const r = await request(`http://127.0.0.1:${httpPort}${c.path}`, { headers: { host: c.host }, method: c.method ?? 'GET', ...(c.method === 'POST' ? { body: 'x=1' } : {}) })
    assert.equal(r.status, c.status, `${c.host}${c.path}: ${r.body}`)
    assert.equal(r.headers.location, c.location, `${c.host}${c.path}`)
    if (c.status === 421) assert.equal((JSON.parse(r.body) as { error: string }).error, 'SWY_MISDIRECTED')
  }
  // With a fallback host: unknown hosts go there; 443 is left out of the URL.
  const f = await request(`http://127.0.0.1:${fallbackPort}/a?b`, { headers: { host: 'evil.example' } })
  assert.equal(f.status, 301)
  assert.equal(f.headers.location, 'https://www.example.com/a?b')
  assert.equal(hits, 0, 'nothing reached the backend')
  const followed = await tlsRequest(tlsPort, { servername: 'a.test', ca: pki.ca, path: '/p/q?x=1' })
  assert.equal(followed.status, 200)
  assert.equal(hits, 1)
})

test('a bad certificate file: the proxy does not start, and check names the key path', async (t) => {
  const pki = createPki(t)
  const { a, local } = sniSet(pki)
  const backend = await startBackend(t, echo())
  const missing = join(pki.dir, 'missing.crt')
  const config = app(backend.url, {
    listen: [
      { host: '127.0.0.1', port: await freePort() },
      { host: '127.0.0.1', port: await freePort(), tls: { cert: local.cert, key: local.key, certificates: [{ hosts: ['a.test'], cert: missing, key: a.key }] } }
    ]
  })
  const { file } = await writeConfig(t, config)
  const check = await runCli(['check', file])
  assert.equal(check.code, 1)
  assert.match(check.stderr, new RegExp(`config: listen\\[1\\]\\.tls\\.certificates\\[0\\]\\.cert: cannot read ${missing.replace(/[.]/g, '\\.')} \\(ENOENT\\)`))
  const start = await runCli(['start', '-c', file], { timeoutMs: 20_000 })
  assert.equal(start.code, 1, start.stderr)
  assert.match(start.stderr, /listen\[1\]\.tls\.certificates\[0\]\.cert: cannot read/)
  assert.doesNotMatch(start.stderr, /Segmentation|SIGSEGV|at .*\.js:\d+/)

  // A key of another certificate, likewise.
  const { file: file2 } = await writeConfig(t, app(backend.url, {
    listen: [{ host: '127.0.0.1', port: await freePort(), tls: { cert: local.cert, key: a.key } }]
  }))
  const check2 = await runCli(['check', file2])
  assert.equal(check2.code, 1)
  assert.match(check2.stderr, /config: listen\[0\]\.tls\.key: .* does not match the certificate in/)
})

test('an expired certificate loads with a warning (check and the primary log both say so)', async (t) => {
  const pki = createPki(t)
  const old = pki.issue('localhost', { sans: ['DNS:localhost', 'IP:127.0.0.1'], days: -1, file: 'old' })
  const backend = await startBackend(t, echo())
  const tlsPort = await freePort()
  const config = app(backend.url, { listen: [{ host: '127.0.0.1', port: tlsPort, tls: { cert: old.cert, key: old.key } }] })
  const { file } = await writeConfig(t, config)
  const check = await runCli(['check', file])
  assert.equal(check.code, 0, check.stderr)
  assert.match(check.stderr, /warning: config: listen\[0\]\.tls\.cert: .* expired on/)
  const proxy = await startProxy(t, config)
  assert.ok(proxy.logs.some((l) => l.level === 40 && l.path === 'listen[0].tls.cert'), 'a warning line names the key')
  assert.equal(await offered(tlsPort), old.fingerprint256)
})

test('reload picks up replaced certificate files without failed requests; a broken file is refused and the old certificate stays', async (t) => {
  const pki = createPki(t)
  const first = pki.issue('localhost', { sans: ['DNS:localhost', 'IP:127.0.0.1'], file: 'first' })
  const sniFirst = pki.issue('a.test', { file: 'a-first' })
  const second = pki.issue('localhost', { sans: ['DNS:localhost', 'IP:127.0.0.1'], file: 'second' })
  const sniSecond = pki.issue('a.test', { file: 'a-second' })
  // The config names these paths; the test replaces their contents.
  const cert = join(pki.dir, 'live.crt')
  const key = join(pki.dir, 'live.key')
  const aCert = join(pki.dir, 'live-a.crt')
  const aKey = join(pki.dir, 'live-a.key')
  const install = (c: { cert: string, key: string }, d: { cert: string, key: string }): void => {
    copyFileSync(c.cert, cert); copyFileSync(c.key, key); copyFileSync(d.cert, aCert); copyFileSync(d.key, aKey)
  }
  install(first, sniFirst)
  const backend = await startBackend(t, echo())
  const tlsPort = await freePort()
  const proxy = await startProxy(t, app(backend.url, {
    listen: [{ host: '127.0.0.1', port: tlsPort, tls: { cert, key, certificates: [{ hosts: ['a.test'], cert: aCert, key: aKey }] } }],
    log: { access: false }
  }), { args: ['--workers', '2'] })
  assert.equal(await offered(tlsPort), first.fingerprint256)
  assert.equal(await offered(tlsPort, 'a.test'), sniFirst.fingerprint256)

  // Requests on new TLS connections all through the reload. This test runs in the machine's network namespace, where
  // net.ipv4.tcp_migrate_req is 0: a connection queued on an old worker's listening socket as it closes is reset by
  // the kernel at connect (README "Reloads and upgrades"; test/integration/reload.test.ts runs reloads with the sysctl
  // in a namespace of its own). Such resets are counted apart and bounded; any other failure fails the test.
  let stop = false
  const failures: string[] = []
  let connectResets = 0
  let ok = 0
  const loop = async (): Promise<void> => {
    while (!stop) {
      try {
        const r = await tlsRequest(tlsPort, { servername: 'a.test', ca: pki.ca })
        if (r.status === 200) ok++
        else failures.push(`status ${r.status}`)
      } catch (err) {
        // Reset at connect, or after the kernel's handshake but before TLS's (Node 24 says 'read ECONNRESET' or
        // 'Client network socket disconnected before secure TLS connection was established'): the same queued
        // connection. A reset after the TLS handshake is a failure.
        const e = err as NodeJS.ErrnoException & { beforeSecure?: boolean }
        if (e.code === 'ECONNRESET' && e.beforeSecure === true) connectResets++
        else failures.push(e.message)
      }
    }
  }
  const loops = [loop(), loop()]
  await waitFor(() => ok >= 5, 'requests before the reload')
  install(second, sniSecond)
  const r = await runCli(['reload', '-c', proxy.file])
  assert.equal(r.code, 0, r.stderr)
  const after = ok
  await waitFor(() => ok >= after + 5, 'requests after the reload')
  stop = true
  await Promise.all(loops)
  assert.deepEqual(failures, [], `${failures.length} of ${ok + failures.length} requests failed`)
  assert.ok(connectResets <= 3, `${connectResets} connections reset at connect around the generation swap`)
  assert.equal(await offered(tlsPort), second.fingerprint256)
  assert.equal(await offered(tlsPort, 'a.test'), sniSecond.fingerprint256)

  // A broken SNI certificate: the reload is refused with the key path; the running generation keeps its certificates.
  writeFileSync(aCert, 'not a certificate\n')
  // The old generation drains for a moment after the reload; compare against the new one only.
  await waitFor(() => proxy.workerPids().length === 2, 'the old generation gone')
  const pids = proxy.workerPids()
  const bad = await runCli(['reload', '-c', proxy.file])
  assert.equal(bad.code, 1, bad.stdout)
  assert.match(bad.stderr, /listen\[0\]\.tls\.certificates\[0\]\.cert: .* is not a PEM certificate/)
  // The CLI checked the file itself; the proxy refuses it too when asked directly.
  const direct = await request(`${proxy.adminUrl}/api/reload`, { method: 'POST' })
  assert.equal(direct.status, 422)
  const problems = (JSON.parse(direct.body) as { problems: Array<{ path: string }> }).problems
  assert.equal(problems[0]?.path, 'listen[0].tls.certificates[0].cert')
  assert.deepEqual(proxy.workerPids().sort(), pids.sort())
  assert.equal(await offered(tlsPort, 'a.test'), sniSecond.fingerprint256)
  const still = await tlsRequest(tlsPort, { servername: 'a.test', ca: pki.ca })
  assert.equal(still.status, 200)
})
