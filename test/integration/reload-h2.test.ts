// Zero-downtime reloads over HTTP/2: clients keep streams going on long-lived TLS sessions (ALPN h2) while the proxy
// is reloaded ten times; each old generation says GOAWAY, lets its open streams finish and closes, and clients open
// their next session to the new one. No stream may fail: not an error, not a short body. A stream the client opened
// while the GOAWAY was on its way is refused (its id is above the GOAWAY's last stream id, RFC 9113 §6.8): HTTP/2
// guarantees it was not processed, and clients (browsers, curl, gRPC) send it again. This client does too, and the
// test checks the guarantee: no refused attempt ever reached the backend.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { ClientHttp2Session } from 'node:http2'
import { startBackend, startProxy, freePort, runCli, request } from '../helpers/index.ts'
import { createPki } from '../helpers/certs.ts'
import { h2Connect, h2Request } from '../helpers/h2.ts'

interface Tally { ok: number, failed: number, failures: string[], sessions: number, refused: string[] }

/**
 * One client: a session at a time with `streams` requests in flight; a session that got GOAWAY or closed is
 * replaced, and only requests it had actually sent count (a request refused locally by a closing session is re-sent).
 */
async function client (origin: string, ca: string, streams: number, until: () => boolean, tally: Tally, ids: { next: number }): Promise<void> {
  let session: Promise<ClientHttp2Session> | null = null
  let current: ClientHttp2Session | null = null
  const usable = (s: ClientHttp2Session | null): s is ClientHttp2Session => s !== null && !s.closed && !s.destroyed && (s as { goneAway?: boolean }).goneAway !== true
  // The streams of one client share its session; the first to find it gone opens the next.
  const fresh = async (): Promise<ClientHttp2Session> => {
    if (usable(current)) return current
    session ??= h2Connect(origin, { ca, servername: 'h2.test' }).then((s) => {
      tally.sessions++
      s.once('goaway', () => { (s as { goneAway?: boolean }).goneAway = true })
      current = s
      session = null
      return s
    }, (err: unknown) => { session = null; throw err })
    return await session
  }
  const one = async (): Promise<void> => {
    while (!until()) {
      const s = await fresh()
      if ((s as { goneAway?: boolean }).goneAway) continue
      const id = `a${ids.next++}`
      try {
        const r = await h2Request(s, { ':path': '/r?size=2000', ':authority': 'h2.test', 'x-attempt': id })
        if (r.status === 200 && r.body.length === 2000) tally.ok++
        else { tally.failed++; tally.failures.push(`status ${r.status}, ${r.body.length} bytes`) }
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? ''
        // Refused by the client itself before anything was sent: the session had just closed. Not a failed stream.
        if (code === 'ERR_HTTP2_GOAWAY_SESSION' || code === 'ERR_HTTP2_INVALID_SESSION') continue
        // Above the GOAWAY's last stream id: not processed, sent again on the next session.
        if (/NGHTTP2_REFUSED_STREAM/.test((err as Error).message)) { tally.refused.push(id); continue }
        tally.failed++
        tally.failures.push(`${code} ${(err as Error).message}`)
      }
    }
  }
  await Promise.all(Array.from({ length: streams }, one))
  ;(current as ClientHttp2Session | null)?.close()
}

test('ten reloads under HTTP/2 load (TLS, ALPN h2): GOAWAY, open streams finish, 0 failed streams', async (t) => {
  const pki = createPki(t)
  const cert = pki.issue('h2.test')
  const seen = new Set<string>()
  const backend = await startBackend(t, (req, res) => {
    seen.add(String(req.headers['x-attempt']))
    req.resume()
    req.on('end', () => { res.setHeader('content-length', '2000'); res.end(Buffer.alloc(2000, 'r')) })
  })
  const port = await freePort()
  const proxy = await startProxy(t, {
    listen: [{ host: '127.0.0.1', port, tls: { cert: cert.cert, key: cert.key } }],
    workers: 1,
    upstreams: { app: { servers: [{ url: backend.url }] } },
    routes: [{ upstream: 'app' }],
    log: { access: false },
    shutdown: { drain_timeout: '5s' }
  })
  const tally: Tally = { ok: 0, failed: 0, failures: [], sessions: 0, refused: [] }
  const ids = { next: 0 }
  let stop = false
  const load = Promise.all(Array.from({ length: 4 }, async () => { await client(`https://127.0.0.1:${port}`, pki.ca, 4, () => stop, tally, ids) }))
  for (let i = 0; i < 10; i++) {
    const r = await runCli(['reload', '-c', proxy.file])
    assert.equal(r.code, 0, `reload ${i + 1}: ${r.stdout}${r.stderr}`)
  }
  stop = true
  await load
  const s = JSON.parse((await request(`${proxy.adminUrl}/api/status`)).body) as { generation: number }
  t.diagnostic(`${tally.ok} streams ok, ${tally.failed} failed, ${tally.refused.length} refused and sent again, ${tally.sessions} sessions, generation ${s.generation}`)
  assert.equal(s.generation, 11)
  assert.equal(tally.failed, 0, tally.failures.slice(0, 10).join('\n'))
  assert.ok(tally.ok >= 500, `only ${tally.ok} streams`)
  const processed = tally.refused.filter((id) => seen.has(id))
  assert.deepEqual(processed, [], 'a refused stream must not have reached the backend')
  // Sessions were replaced as generations went: about one per client per reload.
  assert.ok(tally.sessions >= 4 * 10, `${tally.sessions} sessions`)
})
