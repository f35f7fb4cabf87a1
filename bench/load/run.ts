// `npm run bench` / `npm run bench:wrk`: rounds of load over every scenario × target (the backend direct, Switchyard
// with 1 worker with and without its access log, auto workers, nginx and HAProxy when installed), targets taking
// turns within each round. Reports medians over rounds of req/s, p99 and the proxy's CPU per request (user and
// kernel), and each Switchyard row's ratio to nginx and HAProxy taken within a round, then the median and spread.
// Prints markdown, writes bench/results/<time>.json.

import { execFileSync } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { cpus, release, tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { installCleanup, stopAll, versions } from './children.ts'
import { markdown, summarise, type Row } from './report.ts'
import { runRounds } from './rounds.ts'
import { direct, haproxy, nginx, parseVariant, startBackendChild, startFastBackend, switchyard, type TargetEnv, type TargetSpec } from './targets.ts'
import { runLoad, SCENARIOS, type LoadOptions, type ToolName } from './tools.ts'
import { positiveInt } from './options.ts'

const USAGE = `usage: node dist/bench/load/run.js [options]
  --duration S       seconds per measured run (default 10)
  --warmup S         seconds of discarded load before each run (default 1; 0 = none)
  --rounds N         rounds; each runs every target once per scenario, in turn (default 3)
  --connections N    concurrent connections (default 50)
  --tool T           autocannon (default) or wrk
  --threads N        wrk threads (default 1)
  --pin              taskset: proxy on CPU 1; backend and load generator on CPU 0
  --backend B        nginx (static files; default when installed), uws (a bare uWS app) or node (node:http, slow)
  --scenarios LIST   comma list of ${SCENARIOS.map((s) => s.id).join(',')} (default all)
  --targets LIST     comma list of target ids (default all)
  --variant V        also run switchyard-1 from another build or with Node flags, in the same rounds:
                     NAME=[ROOT][,NODE-FLAG...] (targets switchyard-1@NAME, switchyard-1-log@NAME; repeatable)`

// On the proxy CPU when pinned; the backend and the load generator share the other one.
const PROXY_CPU = 1
const LOAD_CPU = 0

const NOTES = [
  'Access logs off everywhere except the "+ access log" row: nginx has access_log off, HAProxy has no log directive, Switchyard runs with log level warn (the log row: info with log.access, stdout to a file on a tmpfs, /dev/shm, when there is one).',
  'nginx: worker_processes 1, upstream keepalive 64, proxy_http_version 1.1, Connection "" (keep-alive to the backend), request bodies streamed (proxy_request_buffering off), responses kept in memory (proxy_buffers 8 16k, proxy_max_temp_file_size 0).',
  'HAProxy: nbthread 1, http-keep-alive with http-reuse always.',
  'CPU µs/req: user and kernel time of all the target\'s processes during the measured run, over its requests (for "direct", the backend\'s).',
  'Cores busy: that CPU time per second of the run (1.00: one core full). Pinned, a target of one worker well below 1.00 was held back by the backend or wrk on the other CPU, not by its own core, and a ratio to it overstates the others: compare CPU per request then.'
]

function parseOptions () {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      tool: { type: 'string', default: 'autocannon' },
      threads: { type: 'string', default: '1' },
      pin: { type: 'boolean', default: false },
      backend: { type: 'string' },
      scenarios: { type: 'string' },
      targets: { type: 'string' },
      variant: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.help) { console.log(USAGE); process.exit(0) }
  const tool = values.tool
  if (tool !== 'autocannon' && tool !== 'wrk') throw new Error(`--tool: expected autocannon or wrk, got '${tool}'`)
  const backend = values.backend
  if (backend !== undefined && backend !== 'nginx' && backend !== 'uws' && backend !== 'node') throw new Error(`--backend: expected nginx, uws or node, got '${backend}'`)
  const pick = <T extends { id: string }>(all: readonly T[], list: string | undefined, what: string): T[] => {
    if (list === undefined) return [...all]
    const ids = list.split(',').map((s) => s.trim()).filter((s) => s !== '')
    const unknown = ids.filter((id) => !all.some((x) => x.id === id))
    if (unknown.length > 0) throw new Error(`--${what}: unknown ${unknown.join(', ')} (known: ${all.map((x) => x.id).join(', ')})`)
    return all.filter((x) => ids.includes(x.id))
  }
  const targets: TargetSpec[] = [direct, switchyard('1'), switchyard('1', false, false), switchyard('1', true), switchyard('1', false, true, 'node'), switchyard('auto'), nginx, haproxy,
    ...(values.variant ?? []).map(parseVariant).flatMap((v) => [switchyard('1', false, true, 'uws', v), switchyard('1', true, true, 'uws', v)])]
  return {
    durationS: positiveInt('duration', values.duration),
    warmupS: positiveInt('warmup', values.warmup, 0),
    rounds: positiveInt('rounds', values.rounds),
    connections: positiveInt('connections', values.connections),
    threads: positiveInt('threads', values.threads),
    tool: tool as ToolName,
    pin: values.pin,
    backend: backend as 'nginx' | 'uws' | 'node' | undefined,
    scenarios: pick(SCENARIOS, values.scenarios, 'scenarios'),
    targets: pick(targets, values.targets, 'targets')
  }
}

function pinSelf (cpu: number): void {
  // -a: every thread of this process (autocannon runs on the main thread, libuv's pool stays with it).
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' })
}

async function main (): Promise<void> {
  const opts = parseOptions()
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
  if (!existsSync(join(root, 'dist/bench/servers/backend.js'))) throw new Error('dist/bench/servers/backend.js is missing: run `npx tsc -p tsconfig.json` first')
  if (opts.pin) {
    if (cpus().length < 2) throw new Error('--pin needs at least 2 CPUs')
    pinSelf(LOAD_CPU)
  }

  const tmpDir = await mkdtemp(join(tmpdir(), 'switchyard-bench-'))
  installCleanup(() => rmSync(tmpDir, { recursive: true, force: true }))
  const logDir = existsSync('/dev/shm') ? await mkdtemp(join('/dev/shm', 'switchyard-bench-log-')) : tmpDir
  if (logDir !== tmpDir) installCleanup(() => rmSync(logDir, { recursive: true, force: true }))

  const startedAt = new Date()
  const backendCpu = opts.pin ? LOAD_CPU : undefined
  const backend = opts.backend === 'node'
    ? { ...await startBackendChild(root, backendCpu), kind: 'node:http (bench/servers/backend.ts; slower than the proxies: ratios near 1 then mean little)', pgid: undefined }
    : await startFastBackend(root, tmpDir, backendCpu, opts.backend)
  const pinText = opts.pin ? `pinned: proxy on CPU ${PROXY_CPU}, backend + ${opts.tool} on CPU ${LOAD_CPU}` : 'not pinned'
  const heading = `### Load: ${opts.tool}, ${opts.connections} connections, ${opts.durationS} s per run (+${opts.warmupS} s warmup), ${opts.rounds} round(s), ${pinText}`
  const notes = [...NOTES, `Backend: ${backend.kind}; the same instance serves every target.`]
  if (opts.pin) notes.push('With --pin, "direct" has the backend and the load generator sharing CPU 0 while CPU 1 idles, so it only shows the backend is not the limit.')
  if (opts.tool === 'autocannon') notes.push('autocannon records latency in whole milliseconds, so sub-ms p50/p99 show as 0 or 1.')
  console.error(`${heading}\n${notes.map((n) => `- ${n}`).join('\n')}\n`)

  const env: TargetEnv = { root, tmpDir, logDir, backendPort: backend.port, ...(backend.pgid === undefined ? {} : { backendPgid: backend.pgid }), cpu: opts.pin ? PROXY_CPU : undefined }
  const load: LoadOptions = {
    durationS: opts.durationS,
    connections: opts.connections,
    threads: opts.threads,
    cpu: opts.pin ? LOAD_CPU : undefined,
    tmpDir
  }
  let rows: Row[]
  try {
    rows = await runRounds({
      rounds: opts.rounds,
      targets: opts.targets,
      scenarios: opts.scenarios,
      env,
      skip: (t) => opts.pin && t.id === 'switchyard-auto' ? '--pin measures one proxy on one CPU' : undefined,
      async measure (running, sc, counted) {
        if (opts.warmupS > 0) await runLoad(opts.tool, running.url, sc, { ...load, durationS: opts.warmupS })
        counted()
        return { measurement: await runLoad(opts.tool, running.url, sc, load) }
      }
    })
  } finally {
    await backend.stop()
  }

  const summary = summarise(opts.scenarios, rows)
  const result = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', kernel: release(), platform: process.platform },
    versions: await versions([['nginx', 'nginx', ['-v']], ['haproxy', 'haproxy', ['-v']], ['wrk', 'wrk', ['-v']]]),
    options: { tool: opts.tool, durationS: opts.durationS, warmupS: opts.warmupS, rounds: opts.rounds, connections: opts.connections, threads: opts.threads, pin: opts.pin, backend: backend.kind },
    notes,
    rows,
    summary
  }
  const dir = join(root, 'bench/results')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  await writeFile(file, JSON.stringify(result, null, 2) + '\n')

  console.log(markdown(opts.scenarios, summary, heading))
  console.log(notes.map((n) => `- ${n}`).join('\n'))
  console.log(`\nMachine: ${result.machine.cpus} × ${result.machine.model}, Node ${process.version}. JSON: ${relative(process.cwd(), file)}`)
}

main().catch(async (err: unknown) => {
  console.error(err instanceof Error ? err.message : err)
  await stopAll()
  process.exit(1)
})
