// `npm run bench:ratelimit`: the rate limiter under load, on its own redis-server and the bench backend.
// ACCURACY: two Switchyard instances × 2 workers share one bucket (key: route) and are driven far over the limit;
// admitted vs rate × duration + burst. OVERHEAD: a never-exhausted limit vs no limit on the same instance, runs
// alternating, with Redis state and with the embedded store. Prints a summary, writes bench/results/ratelimit-*.json.

import { existsSync, rmSync } from 'node:fs'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { cpus, release, tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { freePort, installCleanup, spawnChild, stopAll, stopChild, waitForHttp200, type Child } from './children.ts'
import { startBackendChild } from './targets.ts'
import { runAutocannon, type LoadOptions, type Measurement, type Scenario } from './tools.ts'
import { positiveInt } from './options.ts'

const USAGE = `usage: node dist/bench/load/ratelimit.js [options]
  --duration S          seconds of the accuracy run (default 10)
  --rate R              accuracy limit, requests per second (default 100)
  --burst B             accuracy bucket size (default 50)
  --connections N       concurrent connections per load run, split over the instances (default 50)
  --runs N              overhead: rounds of limited + unlimited runs per store (default 3)
  --run-duration S      overhead: seconds per run (default 4)
  --workers N           overhead: workers of the instance under test (default 1)
  --only WHAT           accuracy or overhead (default both)`

/** Every request goes through /limited/ or /free/ (prefix stripped), so the backend sees /100b either way. */
const LIMITED: Scenario = { id: 'limited', title: 'limited', method: 'GET', path: '/limited/100b', bodyBytes: 0 }
const FREE: Scenario = { id: 'free', title: 'unlimited', method: 'GET', path: '/free/100b', bodyBytes: 0 }
const READY_MS = 20_000


function parseOptions () {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      rate: { type: 'string', default: '100' },
      burst: { type: 'string', default: '50' },
      connections: { type: 'string', default: '50' },
      runs: { type: 'string', default: '3' },
      'run-duration': { type: 'string', default: '4' },
      workers: { type: 'string', default: '1' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.help) { console.log(USAGE); process.exit(0) }
  const only = values.only
  if (only !== undefined && only !== 'accuracy' && only !== 'overhead') throw new Error(`--only: expected accuracy or overhead, got '${only}'`)
  return {
    durationS: positiveInt('duration', values.duration),
    rate: positiveInt('rate', values.rate),
    burst: positiveInt('burst', values.burst),
    connections: positiveInt('connections', values.connections),
    runs: positiveInt('runs', values.runs),
    runDurationS: positiveInt('run-duration', values['run-duration']),
    workers: positiveInt('workers', values.workers),
    accuracy: only !== 'overhead',
    overhead: only !== 'accuracy'
  }
}

type Options = ReturnType<typeof parseOptions>

/** Resolves true if a server on `port` answers PING with +PONG. */
async function pings (port: number): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1')
    const done = (ok: boolean): void => { s.destroy(); resolve(ok) }
    s.setTimeout(500, () => { done(false) })
    s.on('error', () => { done(false) })
    s.on('connect', () => { s.write('PING\r\n') })
    s.on('data', (d: Buffer) => { done(d.toString().startsWith('+PONG')) })
  })
}

/** A redis-server of our own on a free port, without persistence; never the system Redis. */
async function startRedis (tmpDir: string): Promise<{ url: string, child: Child }> {
  const port = await freePort()
  const child = spawnChild('redis-server', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpDir])
  const deadline = Date.now() + READY_MS
  while (!await pings(port)) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`redis-server exited before it was ready:\n${child.output()}`)
    if (Date.now() > deadline) throw new Error(`redis-server: no PONG within ${READY_MS} ms:\n${child.output()}`)
    await sleep(50)
  }
  return { url: `redis://127.0.0.1:${port}`, child }
}

interface Instance { readonly url: string, readonly child: Child }

/**
 * One Switchyard instance through its CLI: /limited/ carries `rateLimit` (when given), /free/ none; both reach the
 * bench backend. `state` absent means the embedded store. Ready once /free/ answers 200 (so no token is spent).
 */
async function startSwitchyard (root: string, tmpDir: string, name: string, backendPort: number, workers: number,
  rateLimit: { rate: string, burst: number } | undefined, state: { redis: string, prefix: string } | undefined): Promise<Instance> {
  const port = await freePort()
  const config = {
    listen: [{ host: '127.0.0.1', port }],
    workers,
    log: { level: 'warn', access: false },
    // Two instances on one host: the admin API's default port would be taken by the first.
    admin: { enabled: false },
    upstreams: { bench: { servers: [{ url: `http://127.0.0.1:${backendPort}` }] } },
    routes: [
      { match: { path: '/limited/' }, upstream: 'bench', strip_prefix: true, ...(rateLimit === undefined ? {} : { rate_limit: { key: 'route', ...rateLimit } }) },
      { match: { path: '/free/' }, upstream: 'bench', strip_prefix: true }
    ],
    ...(state === undefined ? {} : { state })
  }
  const file = join(tmpDir, `${name}.json`)
  await writeFile(file, JSON.stringify(config, null, 2))
  const child = spawnChild(name, process.execPath, [join(root, 'dist/workers/cli.js'), 'start', '-c', file], root)
  const url = `http://127.0.0.1:${port}`
  try {
    await waitForHttp200(child, `${url}${FREE.path}`, READY_MS)
  } catch (err) {
    await stopChild(child)
    throw err
  }
  return { url, child }
}

function loadOptions (tmpDir: string, durationS: number, connections: number): LoadOptions {
  return { durationS, connections, threads: 1, cpu: undefined, tmpDir }
}

interface Accuracy {
  rate: number
  burst: number
  instances: number
  workersPerInstance: number
  elapsedMs: number
  offered: number
  offeredTimesLimit: number
  admitted: number
  refused: number
  errors: number
  budget: number
  deviationPct: number
  withinBar: boolean
  runs: Measurement[]
}

async function accuracy (opts: Options, root: string, tmpDir: string, backendPort: number, redisUrl: string): Promise<Accuracy> {
  // A fresh prefix: the bucket starts full (burst) and nothing from an earlier run counts.
  const state = { redis: redisUrl, prefix: `bench-acc-${Date.now().toString(36)}` }
  const limit = { rate: `${opts.rate}/s`, burst: opts.burst }
  const instances = await Promise.all(['accuracy-a', 'accuracy-b'].map(async (n) => await startSwitchyard(root, tmpDir, n, backendPort, 2, limit, state)))
  try {
    const perInstance = Math.max(1, Math.floor(opts.connections / instances.length))
    const started = performance.now()
    const runs = await Promise.all(instances.map(async (i) => await runAutocannon(i.url, LIMITED, loadOptions(tmpDir, opts.durationS, perInstance))))
    const elapsedMs = performance.now() - started
    const offered = runs.reduce((a, r) => a + r.requests, 0)
    const refused = runs.reduce((a, r) => a + r.non2xx, 0)
    const admitted = offered - refused
    // Tokens refill over the whole load window; the bucket starts with `burst`.
    const budget = opts.rate * elapsedMs / 1000 + opts.burst
    const deviationPct = (admitted - budget) / budget * 100
    return {
      rate: opts.rate,
      burst: opts.burst,
      instances: instances.length,
      workersPerInstance: 2,
      elapsedMs,
      offered,
      offeredTimesLimit: offered / (opts.rate * elapsedMs / 1000),
      admitted,
      refused,
      errors: runs.reduce((a, r) => a + r.errors, 0),
      budget,
      deviationPct,
      withinBar: Math.abs(deviationPct) <= 5,
      runs
    }
  } finally {
    await Promise.all(instances.map(async (i) => { await stopChild(i.child) }))
  }
}

interface Overhead {
  store: 'redis' | 'embedded'
  workers: number
  limitedRps: number
  unlimitedRps: number
  ratio: number
  limitedNon2xx: number
  errors: number
  runs: Array<{ route: 'limited' | 'unlimited', measurement: Measurement }>
}

async function overhead (opts: Options, root: string, tmpDir: string, backendPort: number, store: 'redis' | 'embedded', redisUrl: string): Promise<Overhead> {
  const state = store === 'redis' ? { redis: redisUrl, prefix: `bench-ovh-${Date.now().toString(36)}` } : undefined
  // A limit that never runs out: every request goes through the stage and its leases, none is refused.
  const limit = { rate: '100000000/s', burst: 1_000_000_000 }
  const inst = await startSwitchyard(root, tmpDir, `overhead-${store}`, backendPort, opts.workers, limit, state)
  try {
    const load = loadOptions(tmpDir, opts.runDurationS, opts.connections)
    // Warm both routes (JIT, pools, the first lease) before anything is measured.
    await runAutocannon(inst.url, LIMITED, { ...load, durationS: 1 })
    await runAutocannon(inst.url, FREE, { ...load, durationS: 1 })
    const runs: Overhead['runs'] = []
    for (let i = 0; i < opts.runs; i++) {
      // ABBA order: a drift over the run (thermal, a noisy neighbour) weighs on both sides alike.
      const order = i % 2 === 0 ? [LIMITED, FREE] : [FREE, LIMITED]
      for (const sc of order) {
        const m = await runAutocannon(inst.url, sc, load)
        console.error(`[overhead ${store}] ${sc.title}: ${Math.round(m.rps)} req/s, p99 ${m.p99Ms} ms, non-2xx ${m.non2xx}, errors ${m.errors}`)
        runs.push({ route: sc === LIMITED ? 'limited' : 'unlimited', measurement: m })
      }
    }
    const rps = (route: string): number => {
      const ms = runs.filter((r) => r.route === route).map((r) => r.measurement)
      return ms.reduce((a, m) => a + m.requests, 0) / ms.reduce((a, m) => a + m.durationS, 0)
    }
    const limitedRps = rps('limited')
    const unlimitedRps = rps('unlimited')
    return {
      store,
      workers: opts.workers,
      limitedRps,
      unlimitedRps,
      ratio: limitedRps / unlimitedRps,
      limitedNon2xx: runs.filter((r) => r.route === 'limited').reduce((a, r) => a + r.measurement.non2xx, 0),
      errors: runs.reduce((a, r) => a + r.measurement.errors, 0),
      runs
    }
  } finally {
    await stopChild(inst.child)
  }
}

async function main (): Promise<void> {
  const opts = parseOptions()
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
  for (const f of ['dist/bench/servers/backend.js', 'dist/workers/cli.js']) {
    if (!existsSync(join(root, f))) throw new Error(`${f} is missing: run \`npm run build\` first`)
  }
  const tmpDir = await mkdtemp(join(tmpdir(), 'switchyard-bench-rl-'))
  installCleanup(() => rmSync(tmpDir, { recursive: true, force: true }))
  // Every run is bounded by autocannon's duration; this catches a hang anywhere else (start-up, a stuck child).
  const budgetS = 120 + (opts.accuracy ? opts.durationS : 0) + (opts.overhead ? 2 * (2 + 2 * opts.runs * opts.runDurationS) : 0)
  setTimeout(() => {
    console.error(`time limit: still running after ${budgetS} s; stopping`)
    stopAll().finally(() => process.exit(1))
  }, budgetS * 1000).unref()

  const startedAt = new Date()
  const redis = await startRedis(tmpDir)
  const backend = await startBackendChild(root, undefined)
  let acc: Accuracy | undefined
  const ovh: Overhead[] = []
  try {
    if (opts.accuracy) {
      console.error(`[accuracy] 2 instances × 2 workers, one Redis, rate ${opts.rate}/s, burst ${opts.burst}, ${opts.durationS} s, ${opts.connections} connections`)
      acc = await accuracy(opts, root, tmpDir, backend.port, redis.url)
    }
    if (opts.overhead) {
      for (const store of ['redis', 'embedded'] as const) ovh.push(await overhead(opts, root, tmpDir, backend.port, store, redis.url))
    }
  } finally {
    await backend.stop()
    await stopChild(redis.child)
  }

  const result = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', kernel: release(), platform: process.platform },
    versions: { node: process.version },
    options: opts,
    accuracy: acc,
    overhead: ovh
  }
  const dir = join(root, 'bench/results')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `ratelimit-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  await writeFile(file, JSON.stringify(result, null, 2) + '\n')

  const lines = ['### Rate limiter: accuracy and overhead', '']
  if (acc !== undefined) {
    lines.push(`ACCURACY (${acc.instances} instances × ${acc.workersPerInstance} workers, one Redis, key: route, ${acc.rate}/s, burst ${acc.burst}):`,
      `  offered ${acc.offered} in ${(acc.elapsedMs / 1000).toFixed(2)} s (${acc.offeredTimesLimit.toFixed(1)}× the limit), admitted ${acc.admitted}, budget rate × duration + burst = ${acc.budget.toFixed(1)}`,
      `  deviation ${acc.deviationPct >= 0 ? '+' : ''}${acc.deviationPct.toFixed(2)}% (bar ±5%: ${acc.withinBar ? 'met' : 'MISSED'}); errors ${acc.errors}`, '')
  }
  for (const o of ovh) {
    lines.push(`OVERHEAD (${o.store === 'redis' ? 'Redis state' : 'embedded store'}, ${o.workers} worker${o.workers === 1 ? '' : 's'}, ${opts.runs} × ${opts.runDurationS} s each, ${opts.connections} connections):`,
      `  limited ${Math.round(o.limitedRps)} req/s, unlimited ${Math.round(o.unlimitedRps)} req/s, ratio ${o.ratio.toFixed(3)} (bar ≥ 0.85: ${o.ratio >= 0.85 ? 'met' : 'MISSED'}); refused ${o.limitedNon2xx}, errors ${o.errors}`, '')
  }
  lines.push(`Machine: ${result.machine.cpus} × ${result.machine.model}, Node ${process.version}. JSON: ${relative(process.cwd(), file)}`)
  console.log(lines.join('\n'))
}

main().catch(async (err: unknown) => {
  console.error(err instanceof Error ? err.message : err)
  await stopAll()
  process.exit(1)
})
