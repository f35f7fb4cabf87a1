// Zero-downtime reloads through real processes: `switchyard reload` and SIGHUP swap in a new generation of
// workers under load without a failed request; an invalid config or a generation that cannot start is refused
// and the old one keeps serving; a reload runs the code now on disk.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { cpSync, mkdtempSync, readFileSync, writeFileSync, symlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startBackend, startProxy, request, runCli, waitFor, freePort, echo, type ProxyHandle } from '../helpers/index.ts'
import type { ReloadBenchResult } from '../../bench/reload/run.ts'
import { nodeHasReusePort } from '../../src/config/index.ts'

const RELOAD_BENCH = fileURLToPath(new URL('../../bench/reload/run.js', import.meta.url))
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

function upstreamConfig (url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { upstreams: { app: { servers: [{ url }] } }, routes: [{ upstream: 'app' }], log: { access: false }, ...extra }
}

async function status (proxy: ProxyHandle): Promise<{ generation: number, workers: Array<{ pid: number, generation: number, state: string }> }> {
  const r = await request(`${proxy.adminUrl}/api/status`)
  assert.equal(r.status, 200, r.body)
  return JSON.parse(r.body)
}

test('under load, 64 connections, keep-alive and a new connection per request: 3 reloads each, 0 failed requests', async (t) => {
  // The bench's driver, shortened; as root it runs in its own network namespace with tcp_migrate_req=1.
  const root = process.getuid?.() === 0 && spawnSync('unshare', ['--net', 'true']).status === 0
  // A short drain deadline: an old generation that kept its keep-alive clients would be cut mid-request.
  const child = spawn(process.execPath, [RELOAD_BENCH, '--connections', '64', '--reloads', '3', '--duration', '6', '--drain-timeout', '2s', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 120_000)
  const [code] = await once(child, 'close') as [number | null] // 'close': stdout read to its end
  clearTimeout(timer)
  const line = out.trim().split('\n').at(-1) ?? ''
  // A driver that died says why on stderr: show it rather than a JSON parse error.
  assert.ok(line.startsWith('{'), `the reload driver exited ${String(code)} without a result:\n${err.slice(-3000)}`)
  const r = JSON.parse(line) as ReloadBenchResult
  for (const m of r.modes) t.diagnostic(`${m.mode}: ${m.requests} requests, ${m.failed} failed ${JSON.stringify(m.failures)}, generation ${m.generation}, ${m.drainCuts} drains cut`)
  assert.equal(r.netns, root, 'runs in a private network namespace whenever it can')
  if (root) assert.equal(r.migrateReq, '1')
  assert.deepEqual(r.modes.map((m) => m.mode), ['keepalive', 'close'])
  for (const m of r.modes) {
    assert.equal(m.reloadsFailed, 0, `${m.mode}: reloads failed: ${err}`)
    assert.equal(m.generation, 4, `${m.mode}: three reloads make generation 4`)
    assert.ok(m.requests >= 500, `${m.mode}: only ${m.requests} requests`)
    assert.equal(m.failed, 0, `${m.mode}: ${JSON.stringify(m.failures)}`)
    assert.equal(m.drainCuts, 0, `${m.mode}: old workers still had clients at their drain deadline`)
  }
  assert.equal(code, 0, err)
})

test('SIGHUP reloads the file: new upstream served, old workers gone, generation 2', async (t) => {
  const a = await startBackend(t, echo('a'))
  const b = await startBackend(t, echo('b'))
  const proxy = await startProxy(t, upstreamConfig(a.url), { args: ['--workers', '2'] })
  const before = proxy.workerPids()
  assert.equal(JSON.parse((await request(`${proxy.url}/`)).body).name, 'a')

  proxy.rewrite(upstreamConfig(b.url))
  proxy.process.kill('SIGHUP')
  await waitFor(() => proxy.logs.some((l) => l.event === 'reloaded' && l.why === 'SIGHUP'), 'the reloaded line')
  for (let i = 0; i < 10; i++) assert.equal(JSON.parse((await request(`${proxy.url}/`)).body).name, 'b')
  await waitFor(() => before.every((pid) => !proxy.workerPids().includes(pid)), 'the old generation to exit')
  const s = await status(proxy)
  assert.equal(s.generation, 2)
  assert.equal(s.workers.length, 2)
  assert.ok(s.workers.every((w) => w.generation === 2 && w.state === 'serving'), JSON.stringify(s.workers))
})

test('a connection the old generation accepted before a reload is answered there, though its request comes 800 ms into the drain', async (t) => {
  // The client connected before the reload and sends only later (stalled by a busy machine, say). Nothing is in
  // flight on that connection, so a drain that left after 300 ms idle cut it (DRAIN_ACCEPTED_MS).
  const a = await startBackend(t, echo('a'))
  const b = await startBackend(t, echo('b'))
  const proxy = await startProxy(t, upstreamConfig(a.url), { args: ['--workers', '1'] })
  const socket = connect(Number(new URL(proxy.url).port), '127.0.0.1')
  t.after(() => { socket.destroy() })
  await once(socket, 'connect')
  await sleep(200) // accepted by the worker, not just queued by the kernel
  proxy.rewrite(upstreamConfig(b.url))
  proxy.process.kill('SIGHUP')
  await waitFor(() => proxy.logs.some((l) => l.event === 'reloaded'), 'the reloaded line')
  await sleep(800)
  let raw = ''
  socket.on('data', (d: Buffer) => { raw += d.toString('latin1') })
  socket.write('GET / HTTP/1.1\r\nHost: late.test\r\n\r\n')
  await Promise.race([once(socket, 'close'), sleep(5000)])
  assert.match(raw, /^HTTP\/1\.1 200 /, `the old worker closed the connection without an answer: ${JSON.stringify(raw)}`)
  assert.match(raw, /\r\nconnection: close\r\n/i)
  assert.equal(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).name, 'a')
})

test('an invalid config is refused with its key path: reload exits 1 and the running config keeps serving', async (t) => {
  const a = await startBackend(t, echo('a'))
  const proxy = await startProxy(t, upstreamConfig(a.url))
  const pids = proxy.workerPids()
  proxy.rewrite({ upstreams: { app: { servers: [{ url: 'ftp://x' }] } }, routes: [{ upstream: 'app' }] })
  const r = await runCli(['reload', '-c', proxy.file])
  assert.equal(r.code, 1, r.stderr)
  assert.match(r.stderr, /upstreams\.app\.servers\[0\]\.url: must be an http\(s\) URL/)

  // The CLI checks the file itself first; the proxy refuses it too when asked directly (or on SIGHUP).
  const direct = await request(`${proxy.adminUrl}/api/reload`, { method: 'POST' })
  assert.equal(direct.status, 422)
  const body = JSON.parse(direct.body) as { error: string, problems: Array<{ path: string, reason: string }> }
  assert.equal(body.error, 'SWY_CONFIG_INVALID')
  assert.equal(body.problems[0]?.path, 'upstreams.app.servers[0].url')
  proxy.process.kill('SIGHUP')
  await waitFor(() => proxy.logs.filter((l) => l.msg === 'reload refused: invalid configuration; the running config keeps serving').length === 2, 'the SIGHUP refusal')

  assert.equal((await status(proxy)).generation, 1)
  assert.deepEqual(proxy.workerPids(), pids, 'the workers were not touched')
  assert.equal(JSON.parse((await request(`${proxy.url}/`)).body).name, 'a')
})

test('a reload that moves a port to the other engine: done where Node has reusePort (22.12+), else refused with its key path', async (t) => {
  // Before reusePort the node engine's port is one socket the primary binds, which cannot sit beside uWS's: the new
  // generation failed to bind (EADDRINUSE, exit 3). Now it is refused as a config that cannot be reloaded into.
  const a = await startBackend(t, echo('a'))
  const port = await freePort()
  const on = (engine: string): Record<string, unknown> => upstreamConfig(a.url, { listen: [{ host: '127.0.0.1', port, engine }] })
  const proxy = await startProxy(t, on('uws'))
  proxy.rewrite(on('node'))
  const r = await runCli(['reload', '-c', proxy.file])
  if (!nodeHasReusePort()) {
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, /listen\[0\]\.engine: 127\.0\.0\.1:\d+ is served by the uws engine; on Node [\d.]+ a reload cannot hand it to the node engine/)
    assert.equal((await status(proxy)).generation, 1)
    assert.equal(JSON.parse((await request(`http://127.0.0.1:${port}/`)).body).name, 'a')
    return
  }
  assert.equal(r.code, 0, r.stderr)
  // The node engine answers HTTP/1.0; uWS 20.57 answers it 505. Old workers may take a connection for a moment more.
  const http10 = async (): Promise<string> => {
    const socket = connect(port, '127.0.0.1')
    let raw = ''
    socket.on('data', (d: Buffer) => { raw += d.toString('latin1') })
    socket.write('GET / HTTP/1.0\r\nHost: moved.test\r\n\r\n')
    await Promise.race([once(socket, 'close'), sleep(3000)])
    socket.destroy()
    return raw
  }
  await waitFor(async () => /^HTTP\/1\.[01] 200 /.test(await http10()), 'HTTP/1.0 answered by the node engine')
  proxy.rewrite(on('uws'))
  const back = await runCli(['reload', '-c', proxy.file])
  assert.equal(back.code, 0, back.stderr)
  assert.equal((await status(proxy)).generation, 3)
  assert.equal(JSON.parse((await request(`http://127.0.0.1:${port}/`)).body).name, 'a')
})

test('a new generation that cannot start (its port is taken) is refused: reload exits 3, the old one keeps serving', async (t) => {
  const a = await startBackend(t, echo('a'))
  const taken = await startBackend(t, echo('squatter'))
  const proxy = await startProxy(t, upstreamConfig(a.url))
  const listen = [{ host: '127.0.0.1', port: proxy.port }, { host: '127.0.0.1', port: taken.port }]
  proxy.rewrite(upstreamConfig(a.url, { listen }))
  const r = await runCli(['reload', '-c', proxy.file])
  assert.equal(r.code, 3, r.stdout + r.stderr)
  assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken.port}: address in use`))
  assert.equal((await status(proxy)).generation, 1)
  assert.equal(JSON.parse((await request(`${proxy.url}/`)).body).name, 'a')

  // Fixed file: the next reload works, and the generation number only counts what served.
  proxy.rewrite(upstreamConfig(a.url))
  const ok = await runCli(['reload', '-c', proxy.file])
  assert.equal(ok.code, 0, ok.stderr)
  assert.match(ok.stdout, /reloaded: generation \d+ serves/)
})

test('a reload runs the code now on disk: an upgrade needs no restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'swy-upgrade-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true })
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'))
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  const a = await startBackend(t, echo('a'))
  const proxy = await startProxy(t, upstreamConfig(a.url), { cli: join(dir, 'dist/workers/cli.js') })
  assert.equal((await request(`${proxy.url}/`)).headers.via, '1.1 switchyard')

  // "Upgrade": a new build lands on disk (here, a different Via token), then `switchyard reload`.
  const file = join(dir, 'dist/src/upstream/hop-headers.js')
  writeFileSync(file, readFileSync(file, 'utf8').replaceAll("'1.1 switchyard'", "'1.1 switchyard-next'").replaceAll(', 1.1 switchyard`', ', 1.1 switchyard-next`'))
  const r = await runCli(['reload', '-c', proxy.file])
  assert.equal(r.code, 0, r.stderr)
  assert.equal((await request(`${proxy.url}/`)).headers.via, '1.1 switchyard-next')
})

test('admin API: status names upstreams and servers; a token is required off loopback, and checked when set', async (t) => {
  const a = await startBackend(t, echo('a'))
  // Bound beyond loopback without a token: refused as a config error.
  const dir = mkdtempSync(join(tmpdir(), 'swy-admin-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const bad = join(dir, 'bad.json')
  writeFileSync(bad, JSON.stringify(upstreamConfig(a.url, { admin: { host: '0.0.0.0' } })))
  const refused = await runCli(['check', bad])
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /admin\.token: is required when admin\.host \(0\.0\.0\.0\) is not a loopback address/)

  const token = 'a-long-enough-admin-token'
  const proxy = await startProxy(t, upstreamConfig(a.url, { admin: { port: await freePort(), token } }))
  const none = await request(`${proxy.adminUrl}/api/status`)
  assert.equal(none.status, 401)
  assert.equal(none.headers['www-authenticate'], 'Bearer realm="switchyard"')
  assert.equal((await request(`${proxy.adminUrl}/api/status`, { headers: { authorization: 'Bearer wrong' } })).status, 401)
  const ok = await request(`${proxy.adminUrl}/api/status`, { headers: { authorization: `Bearer ${token}` } })
  assert.equal(ok.status, 200)
  const s = JSON.parse(ok.body) as { generation: number, upstreams: Record<string, { servers: Array<{ url: string, healthy: boolean }> }> }
  assert.equal(s.generation, 1)
  assert.deepEqual(s.upstreams.app?.servers.map((x) => [x.url, x.healthy]), [[a.url, true]])
  assert.equal((await request(`${proxy.adminUrl}/api/nothing`, { headers: { authorization: `Bearer ${token}` } })).status, 404)
  assert.equal((await request(`${proxy.adminUrl}/api/status`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status, 405)
  // The CLI takes the token from the same file.
  const r = await runCli(['reload', '-c', proxy.file])
  assert.equal(r.code, 0, r.stderr)
})
