// The process model through real processes: a killed worker is replaced while the port keeps serving, SIGTERM
// drains in-flight requests and leaves no worker behind, a killed primary takes its workers with it, and
// startup failures (port in use, uWS fallback forced) exit 3 with a message that says why.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ENGINE } from '../helpers/engine.ts'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { startBackend, startProxy, request, waitFor, isAlive, runCli, writeConfig, type ProxyHandle } from '../helpers/index.ts'

function oneUpstream (url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { upstreams: { a: { servers: [{ url }] } }, routes: [{ upstream: 'a' }], log: { access: false }, ...extra }
}

/** Worker pids once there are exactly `n` live ones. */
async function workersUp (proxy: ProxyHandle, n: number, what: string): Promise<number[]> {
  return await waitFor(() => { const p = proxy.workerPids().filter(isAlive); return p.length === n && p }, what)
}

test('a SIGKILLed worker is replaced and the port keeps serving', async (t) => {
  const backend = await startBackend(t, (_req, res) => { res.end('ok') })
  const proxy = await startProxy(t, oneUpstream(backend.url, { log: { access: false, level: 'debug' } }), { args: ['--workers', '2'] })
  const before = await workersUp(proxy, 2, 'two workers')
  const victim = before[0]!

  // Traffic all through the kill; only requests the victim held may fail.
  let stop = false
  let ok = 0
  let failed = 0
  const loop = (async () => {
    while (!stop) {
      try {
        const r = await request(`${proxy.url}/`)
        if (r.status === 200 && r.body === 'ok') ok++
        else failed++
      } catch { failed++ }
    }
  })()
  await waitFor(() => ok >= 20, 'traffic before the kill')
  process.kill(victim, 'SIGKILL')
  const after = await waitFor(() => {
    const p = proxy.workerPids().filter(isAlive)
    return p.length === 2 && !p.includes(victim) && p
  }, 'a replacement worker')
  assert.ok(after.includes(before[1]!), 'the other worker was left alone')
  const replacement = after.find((p) => p !== victim && p !== before[1])!
  // Listening is logged by the primary at debug level: wait for the replacement's line.
  await waitFor(() => proxy.logs.some((l) => l.msg === 'worker listening' && l.pid === replacement), 'the replacement listening')
  stop = true
  await loop
  assert.ok(failed <= 5, `${failed} of ${ok + failed} requests failed around the kill`)

  // Once replaced, every request succeeds, on fresh connections spread by the kernel over both workers.
  for (let i = 0; i < 40; i++) {
    const r = await request(`${proxy.url}/`)
    assert.deepEqual({ status: r.status, body: r.body }, { status: 200, body: 'ok' }, `request ${i}`)
  }
  assert.deepEqual(proxy.workerPids().filter(isAlive).sort(), after.sort())
  assert.equal(await proxy.close(), 0)
})

test('SIGTERM drains an in-flight request, exits 0 and leaves no worker', async (t) => {
  let arrived = 0
  const backend = await startBackend(t, (req, res) => {
    arrived++
    req.resume()
    setTimeout(() => { res.end('slow but complete') }, 1000)
  })
  const proxy = await startProxy(t, oneUpstream(backend.url), { args: ['--workers', '2'] })
  const workers = await workersUp(proxy, 2, 'two workers')
  const pending = request(`${proxy.url}/slow`)
  await waitFor(() => arrived === 1, 'the request at the backend')
  const exit = once(proxy.process, 'exit') as Promise<[number | null, string | null]>
  proxy.process.kill('SIGTERM')
  const r = await pending
  assert.deepEqual({ status: r.status, body: r.body }, { status: 200, body: 'slow but complete' })
  const [code, signal] = await exit
  assert.deepEqual({ code, signal }, { code: 0, signal: null })
  for (const pid of workers) assert.equal(isAlive(pid), false, `worker ${pid} outlived the primary`)
})

test('SIGKILL on the primary: its workers exit within a few seconds', async (t) => {
  const backend = await startBackend(t, (_req, res) => { res.end('ok') })
  const proxy = await startProxy(t, oneUpstream(backend.url), { args: ['--workers', '2'] })
  const workers = await workersUp(proxy, 2, 'two workers')
  assert.equal((await request(`${proxy.url}/`)).status, 200)
  const exit = once(proxy.process, 'exit')
  proxy.process.kill('SIGKILL')
  await exit
  await waitFor(() => workers.every((pid) => !isAlive(pid)), `workers ${workers.join(', ')} to exit`, 5000)
  // Nobody serves the port any more.
  await assert.rejects(request(`${proxy.url}/`))
})

test('start with the port already in use exits 3 and says which address', async (t) => {
  const backend = await startBackend(t, (_req, res) => { res.end('ok') })
  const { file, port } = await writeConfig(t, oneUpstream(backend.url))
  const squatter = createServer()
  squatter.listen(port, '127.0.0.1')
  await once(squatter, 'listening')
  t.after(() => { squatter.close() })
  const r = await runCli(['start', '-c', file], { timeoutMs: 15_000 })
  assert.equal(r.code, 3, r.stdout + r.stderr)
  assert.match(r.stdout + r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}.*in use`))
})

test('start on a port another Switchyard already serves exits 3', async (t) => {
  const backend = await startBackend(t, (_req, res) => { res.end('first') })
  const first = await startProxy(t, oneUpstream(backend.url))
  const { file } = await writeConfig(t, { ...oneUpstream(backend.url), listen: [{ host: '127.0.0.1', port: first.port }] })
  // SO_REUSEPORT lets every worker share the port; it must not let a second instance join them.
  const r = await runCli(['start', '-c', file], { timeoutMs: 15_000 })
  assert.equal(r.code, 3, r.stdout + r.stderr)
  assert.match(r.stdout + r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}.*in use`))
  assert.equal((await request(first.url)).body, 'first')
})

test('the ready line names the runtime and the uWebSockets.js build serving', async (t) => {
  const backend = await startBackend(t, (_req, res) => { res.end('ok') })
  const proxy = await startProxy(t, oneUpstream(backend.url))
  const ready = proxy.logs.find((l) => l.event === 'ready')!
  assert.equal(ready.runtime, `node ${process.versions.node}`)
  assert.equal(ready.engine, `uWebSockets.js ${ENGINE}`)
  assert.match(String(ready.msg), new RegExp(`\\(node ${process.versions.node.replaceAll('.', '\\.')}, uWebSockets\\.js ${ENGINE.replace('.', '\\.')}\\)$`))
})

test('UWS_USE_FALLBACK=1 makes start refuse with exit 3, naming the fallback', async (t) => {
  const backend = await startBackend(t, (_req, res) => { res.end('ok') })
  const { file, port } = await writeConfig(t, oneUpstream(backend.url))
  const r = await runCli(['start', '-c', file], { env: { UWS_USE_FALLBACK: '1' }, timeoutMs: 15_000 })
  assert.equal(r.code, 3, r.stdout + r.stderr)
  assert.match(r.stdout + r.stderr, /UWS_USE_FALLBACK/)
  assert.match(r.stdout + r.stderr, /fallback/)
  // It never listened.
  await assert.rejects(request(`http://127.0.0.1:${port}/`))
})

test('a crash loop backs off and is reported in the log and in /api/status; the first replacement comes at once', async (t) => {
  const backend = await startBackend(t, (_req, res) => { res.end('ok') })
  const proxy = await startProxy(t, oneUpstream(backend.url, { log: { access: false, level: 'debug' } }))
  for (let i = 0; i < 5; i++) {
    const [pid] = await workersUp(proxy, 1, `worker ${i}`)
    await waitFor(() => proxy.logs.some((l) => l.msg === 'worker listening' && l.pid === pid), `worker ${i} listening`)
    process.kill(pid!, 'SIGKILL')
    await waitFor(() => !isAlive(pid!), `worker ${i} gone`)
    if (i === 0) {
      const died = await waitFor(() => proxy.logs.find((l) => l.msg === 'worker died; replacing it'), 'the death noticed')
      const next = await waitFor(() => proxy.logs.find((l) => l.msg === 'worker listening' && l.pid !== pid && Date.parse(String(l.time)) >= Date.parse(String(died.time))), 'the first replacement')
      t.diagnostic(`first replacement listening ${Date.parse(String(next.time)) - Date.parse(String(died.time))} ms after the death was noticed`)
    }
  }
  await waitFor(() => proxy.logs.some((l) => l.msg === 'workers are crash-looping; backing off'), 'the crash-loop report')
  const status = JSON.parse((await request(`${proxy.adminUrl}/api/status`)).body) as { restarts: { recent: number, next_backoff_ms: number, crash_loop: boolean } }
  assert.ok(status.restarts.recent >= 5, JSON.stringify(status.restarts))
  assert.ok(status.restarts.next_backoff_ms >= 800, JSON.stringify(status.restarts))
  assert.equal(status.restarts.crash_loop, true)
  const report = proxy.logs.find((l) => l.msg === 'workers are crash-looping; backing off')!
  assert.ok(Number(report.nextInMs) > 0)
  // Backing off, not giving up: a worker comes back.
  const [back] = await workersUp(proxy, 1, 'a worker after the backoff')
  await waitFor(() => proxy.logs.some((l) => l.msg === 'worker listening' && l.pid === back), 'it listening', 15_000)
  assert.equal((await request(`${proxy.url}/`)).status, 200)
})
