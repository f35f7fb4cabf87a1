// A backend killed under load (1 of 3, a real process, SIGKILL): idempotent requests never fail, because the
// first attempts that hit the dead server are retried on another one, and consecutive failures eject it from
// each worker's rotation; the primary logs the ejections and /api/status shows them.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { startProxy, request, waitFor, freePort, type ProxyHandle } from '../helpers/index.ts'

const DEMO_BACKEND = fileURLToPath(new URL('../../workers/demo-backend.js', import.meta.url))

async function backendProcess (t: TestContext, name: string): Promise<{ url: string, proc: ChildProcess }> {
  const port = await freePort()
  const proc = fork(DEMO_BACKEND, [name, String(port)], { stdio: 'ignore' })
  t.after(() => { proc.kill('SIGKILL') })
  await once(proc, 'message')
  return { url: `http://127.0.0.1:${port}`, proc }
}

interface Load { ok: number, failed: number, by: Record<string, number>, errors: string[] }

function load (proxy: ProxyHandle, concurrency: number): { stop: () => Promise<Load> } {
  const r: Load = { ok: 0, failed: 0, by: {}, errors: [] }
  let running = true
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      try {
        const res = await request(`${proxy.url}/`)
        if (res.status === 200) {
          r.ok++
          const name = res.body.split('\n')[0]!.split(' ')[0]!
          r.by[name] = (r.by[name] ?? 0) + 1
        } else { r.failed++; r.errors.push(`${res.status} ${res.body.slice(0, 80)}`) }
      } catch (err) { r.failed++; r.errors.push((err as Error).message) }
    }
  })
  return { stop: async () => { running = false; await Promise.all(loops); return r } }
}

test('one of three backends SIGKILLed under load: no failed GET, the server is ejected and status shows it', async (t) => {
  const backends = await Promise.all(['b1', 'b2', 'b3'].map(async (n) => await backendProcess(t, n)))
  const proxy = await startProxy(t, {
    workers: 2,
    upstreams: { app: { servers: backends.map((b) => ({ url: b.url })), retries: 2, passive: { failures: 3, eject_for: '30s' } } },
    routes: [{ upstream: 'app' }],
    log: { access: false }
  })
  const l = load(proxy, 8)
  await new Promise((resolve) => setTimeout(resolve, 1000))
  backends[1]!.proc.kill('SIGKILL')
  await waitFor(() => proxy.logs.filter((x) => x.msg === 'server ejected by a worker after consecutive failures (passive detection)' && x.server === backends[1]!.url).length >= 2, 'both workers ejecting the dead server', 10_000)
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const r = await l.stop()
  t.diagnostic(`${r.ok} ok, ${r.failed} failed, by backend ${JSON.stringify(r.by)}`)
  assert.equal(r.failed, 0, r.errors.slice(0, 5).join(' | '))
  assert.ok(r.ok > 200, `only ${r.ok} requests`)
  const ejection = proxy.logs.find((x) => x.msg === 'server ejected by a worker after consecutive failures (passive detection)')!
  assert.equal(ejection.upstream, 'app')
  assert.equal(ejection.failures, 3)
  assert.match(String(ejection.reason), /ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET/)

  const status = JSON.parse((await request(`${proxy.adminUrl}/api/status`)).body) as { upstreams: { app: { servers: Array<{ url: string, ejected_by_workers: number, recent_errors: number, inflight: number }> } } }
  const dead = status.upstreams.app.servers.find((s) => s.url === backends[1]!.url)!
  assert.equal(dead.ejected_by_workers, 2)
  assert.ok(dead.recent_errors >= 6, JSON.stringify(dead))
  for (const s of status.upstreams.app.servers.filter((x) => x !== dead)) {
    assert.equal(s.ejected_by_workers, 0)
    assert.equal(s.recent_errors, 0)
    assert.equal(s.inflight, 0)
  }
  // Ejected, the dead server gets no first attempts at all: every answer in a new burst comes from the others.
  const after = load(proxy, 4)
  await new Promise((resolve) => setTimeout(resolve, 500))
  const r2 = await after.stop()
  assert.equal(r2.failed, 0)
  const again = JSON.parse((await request(`${proxy.adminUrl}/api/status`)).body) as typeof status
  assert.equal(again.upstreams.app.servers.find((s) => s.url === backends[1]!.url)!.recent_errors, dead.recent_errors, 'no new attempts on the ejected server')
})
