// `npm run bench:ws`: WebSocket echo through Switchyard (1 worker), through nginx (proxy_http_version 1.1 with the
// Upgrade headers, 1 worker) and directly, in one run, rounds alternating between them. N clients each send a 1 KiB
// binary message and wait for its echo (lockstep); reported: messages/s and p99 round trip per target (median of the
// rounds), and the ratio to nginx. Then N idle WebSockets held by one Switchyard worker: its RSS growth per socket.
// The proxies are pinned to CPU 0 (--pin), the backend (a bare uWS echo) and this process to CPU 1.
// Writes bench/results/websocket-<time>.json. Every run is bounded.
import { parseArgs } from 'node:util'
import { mkdtemp, mkdir, writeFile, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { execFileSync } from 'node:child_process'
import WebSocket from 'ws'
import { freePort, installCleanup, pinned, spawnChild, stopChild, waitForHttp200, waitForJsonLine, type Child } from './children.ts'
import { nginxPreamble } from './targets.ts'

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '32' },
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    idle: { type: 'string', default: '9000' },
    pin: { type: 'boolean', default: true },
    'no-nginx': { type: 'boolean', default: false }
  }
})
const CLIENTS = Number(values.clients)
const DURATION_MS = Number(values.duration) * 1000
const ROUNDS = Number(values.rounds)
const IDLE = Number(values.idle)
const PROXY_CPU = values.pin ? 0 : undefined
const root = fileURLToPath(new URL('../../../', import.meta.url))

interface Target { id: string, url: string, child?: Child }

function onPath (bin: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }); return true } catch { return false }
}

async function startBackend (): Promise<{ port: number, child: Child }> {
  const port = await freePort()
  const [cmd, args] = pinned(values.pin ? 1 : undefined, process.execPath, [join(root, 'dist/bench/servers/uws-ws-echo.js'), '--port', String(port)])
  const child = spawnChild('ws-echo', cmd, args, root)
  await waitForJsonLine(child, (v): v is { event: string } => (v as { event?: string }).event === 'listening')
  return { port, child }
}

async function startSwitchyard (dir: string, backendPort: number): Promise<Target> {
  const port = await freePort()
  const cfg = join(dir, 'switchyard.yaml')
  await writeFile(cfg, [
    `listen: [{ host: 127.0.0.1, port: ${port} }]`,
    'workers: 1',
    'log: { level: warn }',
    'admin: { enabled: false }',
    `upstreams: { bench: { servers: [{ url: http://127.0.0.1:${backendPort} }] } }`,
    'routes: [{ upstream: bench, websocket: { deflate: false } }]',
    ''
  ].join('\n'))
  const [cmd, args] = pinned(PROXY_CPU, process.execPath, [join(root, 'dist/workers/cli.js'), 'start', '-c', cfg])
  const child = spawnChild('switchyard', cmd, args, root)
  await waitForHttp200(child, `http://127.0.0.1:${port}/`)
  return { id: 'switchyard-1', url: `ws://127.0.0.1:${port}/`, child }
}

async function startNginx (dir: string, backendPort: number): Promise<Target> {
  const port = await freePort()
  const d = join(dir, 'nginx')
  await mkdir(d, { recursive: true })
  await writeFile(join(d, 'nginx.conf'), `${nginxPreamble(d, 'bench/load/websocket.ts', 30_000)}
  server {
    listen 127.0.0.1:${port} reuseport backlog=1024;
    location / {
      proxy_pass http://127.0.0.1:${backendPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 1h;
    }
  }
}
`)
  const [cmd, args] = pinned(PROXY_CPU, 'nginx', ['-p', d, '-e', join(d, 'error.log'), '-c', join(d, 'nginx.conf')])
  const child = spawnChild('nginx', cmd, args)
  await waitForHttp200(child, `http://127.0.0.1:${port}/`)
  return { id: 'nginx-1', url: `ws://127.0.0.1:${port}/`, child }
}

async function open (url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false })
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  return ws
}

/** N lockstep clients for DURATION_MS: messages/s and round-trip percentiles. */
async function echoRun (url: string): Promise<{ mps: number, p50: number, p99: number }> {
  const sockets = await Promise.all(Array.from({ length: CLIENTS }, async () => await open(url)))
  const msg = Buffer.alloc(1024, 0x62)
  const rtts: number[] = []
  let stop = false
  const start = performance.now()
  await Promise.all(sockets.map(async (ws) => await new Promise<void>((resolve) => {
    let sent = 0
    const send = (): void => { sent = performance.now(); ws.send(msg) }
    ws.on('message', () => {
      rtts.push(performance.now() - sent)
      if (stop) { resolve(); return }
      send()
    })
    send()
  })).concat([new Promise<void>((resolve) => setTimeout(() => { stop = true; resolve() }, DURATION_MS))]))
  const elapsed = performance.now() - start
  for (const ws of sockets) ws.terminate()
  rtts.sort((a, b) => a - b)
  const pct = (p: number): number => Math.round(rtts[Math.min(rtts.length - 1, Math.floor(rtts.length * p))]! * 1000) / 1000
  return { mps: Math.round(rtts.length / (elapsed / 1000)), p50: pct(0.5), p99: pct(0.99) }
}

function rssOf (pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(execFileSync('cat', [`/proc/${pid}/status`]).toString())?.[1] ?? 0) * 1024
}

async function workerPid (primary: number): Promise<number> {
  const kids = (await readFile(`/proc/${primary}/task/${primary}/children`, 'utf8')).trim().split(/\s+/).map(Number)
  return kids[0]!
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function main (): Promise<void> {
  if (values.pin) {
    try { execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' }) } catch { /* not pinned */ }
  }
  installCleanup(() => {})
  const dir = await mkdtemp(join(tmpdir(), 'swy-bench-ws-'))
  const backend = await startBackend()
  const targets: Target[] = [{ id: 'direct', url: `ws://127.0.0.1:${backend.port}/` }, await startSwitchyard(dir, backend.port)]
  const nginxSkipped = values['no-nginx'] ? 'skipped (--no-nginx)' : onPath('nginx') ? undefined : 'nginx not installed'
  if (nginxSkipped === undefined) targets.push(await startNginx(dir, backend.port))
  const runs = new Map<string, Array<{ mps: number, p50: number, p99: number }>>()
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of targets) {
      const res = await echoRun(t.url)
      runs.set(t.id, [...(runs.get(t.id) ?? []), res])
      process.stderr.write(`round ${r + 1} ${t.id}: ${res.mps} msg/s, p50 ${res.p50} ms, p99 ${res.p99} ms\n`)
    }
  }
  const rows = targets.map((t) => {
    const rs = runs.get(t.id)!
    return { id: t.id, mps: median(rs.map((x) => x.mps)), p50: median(rs.map((x) => x.p50)), p99: median(rs.map((x) => x.p99)), runs: rs }
  })
  // Idle sockets: the Switchyard worker's RSS before and after opening them.
  const sw = targets.find((t) => t.id === 'switchyard-1')!
  const worker = await workerPid(sw.child!.pid)
  const before = rssOf(worker)
  const idle: WebSocket[] = []
  for (let i = 0; i < IDLE; i += 200) idle.push(...await Promise.all(Array.from({ length: Math.min(200, IDLE - i) }, async () => await open(sw.url))))
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const after = rssOf(worker)
  for (const ws of idle) ws.terminate()
  const perSocket = Math.round((after - before) / IDLE)
  const ng = rows.find((r) => r.id === 'nginx-1')
  const s = rows.find((r) => r.id === 'switchyard-1')!
  const result = {
    when: new Date().toISOString(),
    node: process.version,
    clients: CLIENTS,
    durationS: DURATION_MS / 1000,
    rounds: ROUNDS,
    rows,
    ratioToNginx: ng === undefined ? null : Math.round((s.mps / ng.mps) * 100) / 100,
    nginx: nginxSkipped ?? 'run',
    idle: { sockets: IDLE, workerRssBefore: before, workerRssAfter: after, bytesPerSocket: perSocket }
  }
  for (const t of targets) if (t.child !== undefined) await stopChild(t.child)
  await stopChild(backend.child)
  await rm(dir, { recursive: true, force: true })
  const out = join(root, 'bench/results')
  await mkdir(out, { recursive: true })
  await writeFile(join(out, `websocket-${Date.now()}.json`), JSON.stringify(result, null, 2))
  console.log('| target | messages/s | p50 ms | p99 ms |\n|---|---|---|---|')
  for (const r of rows) console.log(`| ${r.id} | ${r.mps} | ${r.p50} | ${r.p99} |`)
  console.log(ng === undefined ? `nginx: ${nginxSkipped ?? 'not run'}` : `Switchyard ÷ nginx: ${result.ratioToNginx}× messages/s (bar ≥ 0.6)`)
  console.log(`${IDLE} idle WebSockets: worker RSS ${Math.round(before / 1048576)} → ${Math.round(after / 1048576)} MB, ${perSocket} bytes per socket (client and backend side)`)
  process.exit(0)
}

main().catch((err: unknown) => { console.error(err); process.exit(1) })
