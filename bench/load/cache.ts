// `npm run bench:cache`: cache-hit throughput for a 1 KiB object (Cache-Control: max-age=3600) from the bench backend
// directly, through Switchyard (1 worker, route cache on, warmed) and through nginx with proxy_cache (1 worker,
// warmed) when nginx is installed, in one run. Runs alternate between the proxies; the median per target is reported
// with Switchyard ÷ nginx (the bar set for caching: ≥ 1.5). Writes bench/results/cache-<time>.json. Every run is bounded.

import { existsSync, readFileSync, rmSync } from 'node:fs'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { cpus, release, tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { freePort, installCleanup, pinned, spawnChild, stopAll, stopChild, waitForHttp200, waitForJsonLine, type Child } from './children.ts'
import { nginxConf, startBackendChild } from './targets.ts'
import { runLoad, type LoadOptions, type Measurement, type Scenario, type ToolName } from './tools.ts'
import { positiveInt } from './options.ts'

const USAGE = `usage: node dist/bench/load/cache.js [options]
  --duration S      seconds per measured run (default 8)
  --connections N   concurrent connections (default 50)
  --runs N          measured runs per target, alternating (default 3; the median is reported)
  --tool T          autocannon (default) or wrk (lighter: autocannon itself tops out near 45k req/s here)
  --threads N       wrk threads (default 1)
  --pin             taskset: proxies on CPU 1; backend and load generator on CPU 0
  --no-nginx        skip nginx even when installed
  --no-bare         skip the bare uWS app (the ceiling: constant answers, no proxy)`

const HIT_1K: Scenario = { id: 'hit-1k', title: '1 KiB cache hit', method: 'GET', path: '/cached-1k', bodyBytes: 0 }
const READY_MS = 20_000
const PROXY_CPU = 1
const LOAD_CPU = 0


function parseOptions () {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '8' },
      connections: { type: 'string', default: '50' },
      runs: { type: 'string', default: '3' },
      pin: { type: 'boolean', default: false },
      tool: { type: 'string', default: 'autocannon' },
      threads: { type: 'string', default: '1' },
      'no-nginx': { type: 'boolean', default: false },
      'no-bare': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.help) { console.log(USAGE); process.exit(0) }
  if (values.tool !== 'autocannon' && values.tool !== 'wrk') throw new Error(`--tool: expected autocannon or wrk, got '${values.tool}'`)
  return {
    tool: values.tool as ToolName,
    threads: positiveInt('threads', values.threads),
    durationS: positiveInt('duration', values.duration),
    connections: positiveInt('connections', values.connections),
    runs: positiveInt('runs', values.runs),
    pin: values.pin,
    nginx: !values['no-nginx'],
    bare: !values['no-bare']
  }
}

function onPath (bin: string): boolean {
  return (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin']).some((d) => d !== '' && existsSync(join(d, bin)))
}

interface Target { readonly id: string, readonly label: string, readonly url: string, readonly child: Child | undefined }

async function startSwitchyard (root: string, tmpDir: string, backendPort: number, cpu: number | undefined): Promise<Target> {
  const port = await freePort()
  const config = {
    listen: [{ host: '127.0.0.1', port }],
    workers: 1,
    log: { level: 'warn', access: false },
    admin: { enabled: false },
    upstreams: { bench: { servers: [{ url: `http://127.0.0.1:${backendPort}` }] } },
    routes: [{ match: { path: '/' }, upstream: 'bench', cache: {} }]
  }
  const file = join(tmpDir, 'switchyard-cache.json')
  await writeFile(file, JSON.stringify(config, null, 2))
  const [cmd, args] = pinned(cpu, process.execPath, [join(root, 'dist/workers/cli.js'), 'start', '-c', file])
  const child = spawnChild('switchyard', cmd, args, root)
  const url = `http://127.0.0.1:${port}`
  await waitForHttp200(child, `${url}${HIT_1K.path}`, READY_MS)
  return { id: 'switchyard-1', label: 'Switchyard (1 worker, cache)', url, child }
}

const CACHE_HTTP = '  proxy_cache_path CACHE levels=1:2 keys_zone=bench:10m max_size=256m inactive=60m use_temp_path=off;\n'
const CACHE_LOCATION = `      proxy_cache bench;
      proxy_cache_valid 200 1h;
      proxy_cache_lock on;
      add_header X-Cache $upstream_cache_status;
`

async function startNginx (tmpDir: string, backendPort: number, cpu: number | undefined): Promise<Target> {
  const port = await freePort()
  const dir = join(tmpDir, 'nginx')
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'nginx.conf'), nginxConf({ dir, port, backendPort, by: 'bench/load/cache.ts', http: CACHE_HTTP.replace('CACHE', join(dir, 'cache')), location: CACHE_LOCATION }))
  const [cmd, args] = pinned(cpu, 'nginx', ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')])
  const child = spawnChild('nginx', cmd, args)
  const url = `http://127.0.0.1:${port}`
  await waitForHttp200(child, `${url}${HIT_1K.path}`, READY_MS)
  return { id: 'nginx-1', label: 'nginx proxy_cache (1 worker)', url, child }
}

async function startBare (root: string, cpu: number | undefined): Promise<Target> {
  const [cmd, args] = pinned(cpu, process.execPath, [join(root, 'dist/bench/servers/uws-bare.js'), '--port', '0'])
  const child = spawnChild('uws-bare', cmd, args, root)
  const line = await waitForJsonLine(child, (v): v is { port: number } => typeof (v as { port?: unknown } | null)?.port === 'number', READY_MS)
  return { id: 'uws-bare', label: 'bare uWS app, constant answer (ceiling)', url: `http://127.0.0.1:${line.port}`, child }
}

/** Requests the object until the target says it came from its cache (X-Cache: HIT), bounded. */
async function warm (t: Target): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const res = await fetch(`${t.url}${HIT_1K.path}`)
    const body = await res.arrayBuffer()
    if (res.status === 200 && body.byteLength === 1024 && (t.child === undefined || res.headers.get('x-cache') === 'HIT')) return
    if (Date.now() > deadline) throw new Error(`${t.label}: no cache hit after 10 s (status ${res.status}, X-Cache ${String(res.headers.get('x-cache'))})`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The process and every descendant (Switchyard's primary and worker, nginx's master and worker). */
function tree (pid: number): number[] {
  let kids: number[] = []
  try { kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number) } catch {}
  return [pid, ...kids.flatMap(tree)]
}

/** CPU seconds used so far by a process tree, in user space and in the kernel; Linux reports ticks of 1/100 s. */
function cpuSeconds (pid: number): { user: number, sys: number } {
  let user = 0
  let sys = 0
  for (const p of tree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      user += Number(f[11])
      sys += Number(f[12])
    } catch {}
  }
  return { user: user / 100, sys: sys / 100 }
}

interface Run extends Measurement {
  /** CPU seconds the target's processes used during the run (undefined for the backend direct). */
  readonly cpuS: number | undefined
  /** Of which in the kernel (loopback TCP, epoll, and for nginx the cache file's reads). */
  readonly sysS: number | undefined
}

/** Microseconds of CPU per request, user space and kernel: where a proxy's time per hit goes. */
function split (r: Run): string {
  if (r.cpuS === undefined || r.sysS === undefined || r.requests === 0) return '—'
  const us = (s: number): string => (1e6 * s / r.requests).toFixed(2)
  return `${us(r.cpuS - r.sysS)} / ${us(r.sysS)}`
}

function median (xs: readonly Run[]): Run {
  const sorted = [...xs].sort((a, b) => a.rps - b.rps)
  return sorted[Math.floor(sorted.length / 2)]!
}

function perCpu (r: Run): number | undefined {
  return r.cpuS === undefined || r.cpuS <= 0 ? undefined : r.requests / r.cpuS
}

async function main (): Promise<void> {
  const opts = parseOptions()
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
  if (!existsSync(join(root, 'dist/workers/cli.js'))) throw new Error('dist/workers/cli.js is not built: npm run build')
  const tmpDir = await mkdtemp(join(tmpdir(), 'switchyard-bench-cache-'))
  installCleanup(() => rmSync(tmpDir, { recursive: true, force: true }))
  const proxyCpu = opts.pin ? PROXY_CPU : undefined
  const backend = await startBackendChild(root, opts.pin ? LOAD_CPU : undefined)
  const targets: Target[] = [{ id: 'direct', label: 'backend direct', url: backend.url, child: undefined }]
  targets.push(await startSwitchyard(root, tmpDir, backend.port, proxyCpu))
  const nginxSkipped = !opts.nginx ? 'skipped (--no-nginx)' : onPath('nginx') ? undefined : 'nginx not installed'
  if (nginxSkipped === undefined) targets.push(await startNginx(tmpDir, backend.port, proxyCpu))
  if (opts.bare) targets.push(await startBare(root, proxyCpu))
  for (const t of targets) await warm(t)

  const load: LoadOptions = { durationS: opts.durationS, connections: opts.connections, threads: opts.threads, cpu: opts.pin ? LOAD_CPU : undefined, tmpDir }
  const runs = new Map<string, Run[]>(targets.map((t) => [t.id, []]))
  // One discarded second per target first (JIT, connection pools), then the rounds, alternating targets.
  for (const t of targets) await runLoad(opts.tool, t.url, HIT_1K, { ...load, durationS: 1 })
  for (let r = 0; r < opts.runs; r++) {
    for (const t of targets) {
      const before = t.child === undefined ? undefined : cpuSeconds(t.child.pid)
      const m = await runLoad(opts.tool, t.url, HIT_1K, load)
      const after = t.child === undefined ? undefined : cpuSeconds(t.child.pid)
      const cpuS = before === undefined || after === undefined ? undefined : after.user + after.sys - before.user - before.sys
      const sysS = before === undefined || after === undefined ? undefined : after.sys - before.sys
      runs.get(t.id)!.push({ ...m, cpuS, sysS })
      console.error(`round ${r + 1}/${opts.runs} ${t.label}: ${Math.round(m.rps)} req/s, p99 ${m.p99Ms} ms${cpuS === undefined ? '' : `, ${(100 * cpuS / m.durationS).toFixed(0)}% CPU`}${m.errors + m.non2xx > 0 ? `, ${m.errors} errors, ${m.non2xx} non-2xx` : ''}`)
    }
  }
  for (const t of targets) if (t.child !== undefined) await stopChild(t.child)
  await backend.stop()

  const rows = targets.map((t) => ({ id: t.id, label: t.label, ...median(runs.get(t.id)!) }))
  const sw = rows.find((r) => r.id === 'switchyard-1')!
  const ng = rows.find((r) => r.id === 'nginx-1')
  const direct = rows.find((r) => r.id === 'direct')!
  const lines = [
    `### Cache hits, 1 KiB object (${opts.tool}, ${opts.connections} connections, ${opts.durationS} s × ${opts.runs} runs, median${opts.pin ? ', pinned' : ''})`,
    '',
    '| target | req/s | p99 ms | ÷ direct | proxy CPU | req per proxy CPU-second | µs CPU per request, user / kernel |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.label} | ${Math.round(r.rps)} | ${Number(r.p99Ms.toFixed(3))} | ${(r.rps / direct.rps).toFixed(2)} | ${r.cpuS === undefined ? '—' : `${(100 * r.cpuS / r.durationS).toFixed(0)}%`} | ${perCpu(r) === undefined ? '—' : Math.round(perCpu(r)!)} | ${split(r)} |`),
    '',
    ng === undefined
      ? `nginx: ${nginxSkipped ?? 'not run'}`
      : `Switchyard ÷ nginx proxy_cache: **${(sw.rps / ng.rps).toFixed(2)}×** req/s (bar ≥ 1.5), ${(perCpu(sw)! / perCpu(ng)!).toFixed(2)}× requests per CPU-second`,
    'A proxy below 100% CPU was not the bottleneck (the load generator shares the machine); requests per CPU-second compare what each proxy spends on a hit.',
    'The kernel part is mostly loopback TCP (a send runs the client\'s receive path and wakes it): every proxy pays it, and it bounds what a faster user-space hit path can gain.',
    ...(rows.some((r) => r.id === 'uws-bare') ? [`Switchyard ÷ bare uWS ceiling: ${(sw.rps / rows.find((r) => r.id === 'uws-bare')!.rps).toFixed(2)}×${ng === undefined ? '' : `; bare uWS ÷ nginx: ${(rows.find((r) => r.id === 'uws-bare')!.rps / ng.rps).toFixed(2)}×`}`] : []),
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Linux ${release()}, Node ${process.version}`
  ]
  console.log(lines.join('\n'))
  const dir = join(root, 'bench/results')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `cache-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  await writeFile(file, JSON.stringify({ options: opts, rows, runs: Object.fromEntries(runs) }, null, 2) + '\n')
  console.error(`wrote ${relative(process.cwd(), file)}`)
}

main().catch(async (err: unknown) => {
  console.error(err)
  await stopAll()
  process.exit(1)
})
