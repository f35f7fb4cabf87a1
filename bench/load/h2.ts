// `npm run bench:h2`: HTTP/2 load with h2load against Switchyard (1 worker, TLS listener speaking h2 by ALPN, and a
// plain one taking h2c) and nginx (1 worker, the same two listeners) in front of the one static backend of
// `npm run bench:wrk`, rounds interleaved. Reports medians over rounds of req/s, p99 (from h2load's per-request log)
// and the proxy's CPU per request, and ratios to nginx taken within a round. Prints markdown (or JSON with --json),
// writes bench/results/h2-<time>.json.

import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, rmSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { connect, constants } from 'node:http2'
import { cpus, release, tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { freePort, installCleanup, pinned, runToEnd, spawnChild, stopAll, stopChild, versions, type Child } from './children.ts'
import { positiveInt } from './options.ts'
import { markdown, summarise, type Baseline, type Row } from './report.ts'
import { runRounds } from './rounds.ts'
import { nginxConf, onPath, PROXY_LOCATION, startFastBackend, type RunningTarget, type TargetEnv, type TargetSpec } from './targets.ts'
import { SCENARIOS, type Measurement, type Scenario } from './tools.ts'

// h2load sends GETs here; the 1 MiB upload of the HTTP/1.1 benches is left out.
const GET_SCENARIOS: readonly Scenario[] = SCENARIOS.filter((s) => s.method === 'GET')

const USAGE = `usage: node dist/bench/load/h2.js [options]
  --duration S       seconds per measured run (default 10)
  --warmup S         seconds of load before each run that h2load does not count (default 2; 0 = none)
  --rounds N         rounds; each runs every target once per scenario, in turn (default 3)
  --clients N        h2load connections (default 16)
  --streams N        concurrent streams per connection (default 10)
  --threads N        h2load threads (default 1)
  --no-pin           do not pin (default: proxy on CPU 1; backend and h2load on CPU 0)
  --scenarios LIST   comma list of ${GET_SCENARIOS.map((s) => s.id).join(',')} (default all)
  --targets LIST     comma list of target ids (default all)
  --cpu-prof DIR     run Switchyard under node --cpu-prof (its workers inherit it): a .cpuprofile per process in DIR
  --json             print the result as JSON instead of markdown`

// As `npm run bench:wrk --pin`: the proxy alone on CPU 1; the backend and the load generator share CPU 0.
const PROXY_CPU = 1
const LOAD_CPU = 0
const READY_MS = 15_000
const TLS13_CIPHER = 'TLS_AES_128_GCM_SHA256'

const BASELINES: readonly Baseline[] = [
  { id: 'nginx-1-h2', label: '× nginx h2' },
  { id: 'nginx-1-h2c', label: '× nginx h2c' }
]

const NOTES = [
  `h2 rows: TLS 1.3 (nginx: ssl_protocols TLSv1.3, as Node negotiates), ${TLS13_CIPHER} on both (h2load --tls13-ciphers), ALPN h2, a self-signed P-256 certificate; h2c rows: cleartext HTTP/2 with prior knowledge. Both proxies speak HTTP/1.1 with keep-alive to the backend.`,
  'Switchyard: the node engine (node:http2), log level warn, metrics on, HTTP/2 settings at their defaults (128 streams per connection).',
  'nginx: worker_processes 1, access_log off, upstream keepalive 64, proxy_http_version 1.1, responses kept in memory (proxy_buffers 8 16k, proxy_max_temp_file_size 0), HTTP/2 settings at their defaults.',
  'p99: from h2load\'s --log-file, every request of the measured part of the run (h2load itself prints no percentiles).',
  'CPU µs/req: user and kernel time of all the target\'s processes from the end of the warm-up to the end of the run, over the requests counted.',
  'Cores busy: that CPU time per second of the run (1.00: one core full); a target well below it was held back by something else than its own core.'
]

function parseOptions () {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      rounds: { type: 'string', default: '3' },
      clients: { type: 'string', default: '16' },
      streams: { type: 'string', default: '10' },
      threads: { type: 'string', default: '1' },
      'no-pin': { type: 'boolean', default: false },
      scenarios: { type: 'string' },
      targets: { type: 'string' },
      'cpu-prof': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.help) { console.log(USAGE); process.exit(0) }
  return {
    durationS: positiveInt('duration', values.duration),
    warmupS: positiveInt('warmup', values.warmup, 0),
    rounds: positiveInt('rounds', values.rounds),
    clients: positiveInt('clients', values.clients),
    streams: positiveInt('streams', values.streams),
    threads: positiveInt('threads', values.threads),
    pin: !values['no-pin'],
    scenarios: values.scenarios,
    targets: values.targets,
    cpuProfDir: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']),
    json: values.json
  }
}

function pick<T extends { id: string }> (all: readonly T[], list: string | undefined, what: string): T[] {
  if (list === undefined) return [...all]
  const ids = list.split(',').map((s) => s.trim()).filter((s) => s !== '')
  const unknown = ids.filter((id) => !all.some((x) => x.id === id))
  if (unknown.length > 0) throw new Error(`--${what}: unknown ${unknown.join(', ')} (known: ${all.map((x) => x.id).join(', ')})`)
  return all.filter((x) => ids.includes(x.id))
}

/** A throwaway certificate for 127.0.0.1 and localhost. */
async function selfSigned (dir: string): Promise<{ cert: string, key: string }> {
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  const res = await runToEnd('openssl', 'openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], 10_000)
  if (res.code !== 0) throw new Error(`openssl exited (${res.code}):\n${res.stderr}`)
  return { cert, key }
}

/** One HTTP/2 GET (TLS or prior-knowledge cleartext by the URL's scheme); resolves with the status, or 0 on any error. */
async function h2Status (url: string, timeoutMs = 1000): Promise<number> {
  const session = connect(new URL(url).origin, { rejectUnauthorized: false })
  session.on('error', () => {})
  try {
    const req = session.request({ ':path': new URL(url).pathname })
    req.on('error', () => {})
    req.resume()
    const [headers] = await Promise.race([
      once(req, 'response') as Promise<[Record<string, unknown>]>,
      sleep(timeoutMs).then(() => [{}] as [Record<string, unknown>])
    ])
    return Number(headers[constants.HTTP2_HEADER_STATUS] ?? 0)
  } catch {
    return 0
  } finally {
    session.destroy()
  }
}

/** Polls `url` over HTTP/2 until it answers 200; fails early if the child exits, and stops it on failure. */
async function started (child: Child, url: string): Promise<RunningTarget> {
  const deadline = Date.now() + READY_MS
  let last = 0
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
      throw new Error(`${child.name} exited (${child.proc.exitCode ?? child.proc.signalCode}) before it was ready:\n${child.output()}`)
    }
    last = await h2Status(`${url}/100b`)
    if (last === 200) return { url, pgid: child.pid, stop: async () => { await stopChild(child) } }
    await sleep(100)
  }
  await stopChild(child)
  throw new Error(`${child.name}: ${url}/100b did not answer 200 over HTTP/2 within ${READY_MS} ms (last status ${last}):\n${child.output()}`)
}

interface Tls { cert: string, key: string }

/** Switchyard, 1 worker, one listener: TLS (HTTP/2 by ALPN, the default there) or plain with `h2c: true`. */
function switchyardH2 (tls: Tls | undefined, cpuProfDir: string | undefined): TargetSpec {
  const id = `switchyard-1-${tls === undefined ? 'h2c' : 'h2'}`
  return {
    id,
    label: `switchyard (1 worker), ${tls === undefined ? 'h2c' : 'h2 over TLS'}`,
    unavailable: (env) => existsSync(join(env.root, 'dist/workers/cli.js')) ? undefined : 'dist/workers/cli.js is not built',
    async start (env) {
      const port = await freePort()
      const cfg = join(env.tmpDir, `${id}.yaml`)
      const listener = tls === undefined
        ? `{ host: 127.0.0.1, port: ${port}, h2c: true }`
        : `{ host: 127.0.0.1, port: ${port}, tls: { cert: ${tls.cert}, key: ${tls.key} } }`
      await writeFile(cfg, [
        `listen: [${listener}]`,
        'workers: 1',
        'log: { level: warn }',
        'admin: { enabled: false }',
        `upstreams: { bench: { servers: [{ url: http://127.0.0.1:${env.backendPort} }] } }`,
        'routes: [{ match: { path: / }, upstream: bench }]',
        ''
      ].join('\n'))
      const prof = cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfDir]
      const [cmd, args] = pinned(env.cpu, process.execPath, [...prof, join(env.root, 'dist/workers/cli.js'), 'start', '-c', cfg])
      return await started(spawnChild(id, cmd, args, env.root), `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`)
    }
  }
}

/** Whether this nginx takes HTTP/2 by the `http2` directive (1.25.1 and later) rather than on the listen line. */
async function nginxHttp2Directive (): Promise<boolean> {
  const r = await runToEnd('nginx', 'nginx', ['-v'], 5000)
  const m = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(r.stdout + r.stderr)
  if (m === null) return false
  return Number(m[1]) * 1e6 + Number(m[2]) * 1e3 + Number(m[3]) >= 1_025_001
}

/** nginx, 1 worker, tuned as `npm run bench:wrk`'s, with one HTTP/2 listener: TLS (h2 by ALPN) or cleartext h2c. */
function nginxH2 (tls: Tls | undefined): TargetSpec {
  const id = `nginx-1-${tls === undefined ? 'h2c' : 'h2'}`
  return {
    id,
    label: `nginx (1 worker), ${tls === undefined ? 'h2c' : 'h2 over TLS'}`,
    unavailable: () => onPath('nginx') ? undefined : 'nginx not installed',
    async start (env) {
      const port = await freePort()
      const dir = join(env.tmpDir, id)
      await mkdir(dir, { recursive: true })
      const directive = await nginxHttp2Directive()
      const listen = `${tls === undefined ? '' : 'ssl '}${directive ? '' : 'http2'}`.trim()
      const server = [
        ...(directive ? ['    http2 on;'] : []),
        // nginx 1.22 defaults to TLS 1.2 with h2load; Node's server negotiates 1.3: the same protocol on both.
        ...(tls === undefined ? [] : [`    ssl_certificate ${tls.cert};`, `    ssl_certificate_key ${tls.key};`, '    ssl_protocols TLSv1.3;']),
        ''
      ].join('\n')
      await writeFile(join(dir, 'nginx.conf'), nginxConf({ dir, port, backendPort: env.backendPort, by: 'bench/load/h2.ts', listen, server, location: PROXY_LOCATION }))
      const [cmd, args] = pinned(env.cpu, 'nginx', ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')])
      return await started(spawnChild(id, cmd, args), `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`)
    }
  }
}

function field (out: string, re: RegExp, what: string): string {
  const m = re.exec(out)
  if (m?.[1] === undefined) throw new Error(`h2load: no ${what} in output:\n${out}`)
  return m[1]
}

/**
 * Latency percentiles (ms) from h2load's --log-file (per request: start time in µs since the epoch, status, µs to the
 * response's end). h2load 1.52 logs the warm-up's requests too; only those started in the last `durationS` count.
 */
async function logPercentiles (file: string, durationS: number): Promise<{ p50Ms: number, p99Ms: number, n: number }> {
  const text = await readFile(file, 'latin1')
  const starts: number[] = []
  const times: number[] = []
  let lastStart = 0
  for (const line of text.split('\n')) {
    const f = line.split('\t')
    if (f.length < 3) continue
    const start = Number(f[0])
    starts.push(start)
    times.push(Number(f[2]))
    if (start > lastStart) lastStart = start
  }
  const from = lastStart - durationS * 1e6
  const sorted = Float64Array.from(times.filter((_, i) => starts[i]! >= from)).sort()
  const at = (p: number): number => sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! / 1000
  return { p50Ms: at(0.5), p99Ms: at(0.99), n: sorted.length }
}

interface LoadOptions {
  readonly durationS: number
  readonly warmupS: number
  readonly clients: number
  readonly streams: number
  readonly threads: number
  readonly cpu: number | undefined
  readonly tmpDir: string
}

/**
 * One bounded h2load run (its warm-up, then `durationS` counted); checks that it spoke HTTP/2 (h2 or h2c), not
 * HTTP/1.1. `atMain` runs when the counted part should begin, for the CPU reading.
 */
async function runH2load (url: string, sc: Scenario, o: LoadOptions, atMain: () => void): Promise<Measurement & { tls: string }> {
  const log = join(o.tmpDir, 'h2load.log')
  const args = ['-c', String(o.clients), '-m', String(o.streams), '-t', String(o.threads), '-D', String(o.durationS),
    ...(o.warmupS > 0 ? ['--warm-up-time', String(o.warmupS)] : []), '--log-file', log,
    // One TLS 1.3 cipher for both proxies: nginx takes the client's first choice (AES-128-GCM), Node's server its own
    // (AES-256-GCM), which would make the 64 KiB rows partly a comparison of ciphers.
    '--tls13-ciphers', TLS13_CIPHER, url + sc.path]
  const [cmd, full] = pinned(o.cpu, 'h2load', args)
  const timer = setTimeout(atMain, o.warmupS * 1000)
  const res = await runToEnd('h2load', cmd, full, (o.durationS + o.warmupS + 30) * 1000).finally(() => clearTimeout(timer))
  const out = res.stdout + res.stderr
  if (res.code !== 0) throw new Error(`h2load exited (${res.code}):\n${out}`)
  const proto = field(out, /^Application protocol: (\S+)/m, 'application protocol')
  if (proto !== 'h2' && proto !== 'h2c') throw new Error(`h2load negotiated ${proto}, not HTTP/2`)
  // "finished in" counts the warm-up; req/s is over the counted part only.
  const durationS = o.durationS
  const req = /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(out)
  if (req === null) throw new Error(`h2load: no request counts in output:\n${out}`)
  const codes = /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m.exec(out)
  const done = Number(req[3])
  if (done === 0) throw new Error(`h2load counted no requests:\n${out}`)
  const lat = await logPercentiles(log, o.durationS)
  return {
    tool: 'h2load',
    durationS,
    connections: o.clients,
    requests: done,
    rps: Number(field(out, /^finished in [\d.]+s, ([\d.]+) req\/s/m, 'req/s')),
    p50Ms: lat.p50Ms,
    p99Ms: lat.p99Ms,
    bytesPerSec: Number(/^traffic: [\d.]+\w* \((\d+)\) total/m.exec(out)?.[1] ?? 0) / durationS,
    errors: Number(req[5]) + Number(req[6]) + Number(req[7]),
    non2xx: codes === null ? 0 : Number(codes[2]) + Number(codes[3]) + Number(codes[4]),
    tls: proto === 'h2c' ? 'cleartext' : `${/^TLS Protocol: (\S+)/m.exec(out)?.[1] ?? '?'} ${/^Cipher: (\S+)/m.exec(out)?.[1] ?? '?'}`
  }
}

async function main (): Promise<void> {
  const opts = parseOptions()
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
  if (!onPath('h2load')) throw new Error('h2load is not installed (Debian: apt-get install nghttp2-client)')
  if (!onPath('nginx')) throw new Error('nginx is not installed: it is the backend (apt-get install nginx-light)')
  if (opts.pin) {
    if (cpus().length < 2) throw new Error('pinning needs at least 2 CPUs (or --no-pin)')
    execFileSync('taskset', ['-a', '-p', '-c', String(LOAD_CPU), String(process.pid)], { stdio: 'ignore' })
  }
  const scenarios = pick(GET_SCENARIOS, opts.scenarios, 'scenarios')
  const tmpDir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'switchyard-bench-h2-'))
  installCleanup(() => rmSync(tmpDir, { recursive: true, force: true }))
  if (opts.cpuProfDir !== undefined) await mkdir(opts.cpuProfDir, { recursive: true })
  const tls = await selfSigned(tmpDir)
  const targets = pick([switchyardH2(tls, opts.cpuProfDir), switchyardH2(undefined, opts.cpuProfDir), nginxH2(tls), nginxH2(undefined)], opts.targets, 'targets')

  const startedAt = new Date()
  const backend = await startFastBackend(root, tmpDir, opts.pin ? LOAD_CPU : undefined, 'nginx')
  const pinText = opts.pin ? `pinned: proxy on CPU ${PROXY_CPU}, backend + h2load on CPU ${LOAD_CPU}` : 'not pinned'
  const heading = `### HTTP/2: h2load, ${opts.clients} connections × ${opts.streams} streams, ${opts.durationS} s per run (+${opts.warmupS} s warm-up), ${opts.rounds} round(s), ${pinText}`
  const notes = [...NOTES, `Backend: ${backend.kind} over HTTP/1.1; the same instance serves every target.`]
  console.error(`${heading}\n${notes.map((n) => `- ${n}`).join('\n')}\n`)

  const env: TargetEnv = { root, tmpDir, logDir: tmpDir, backendPort: backend.port, cpu: opts.pin ? PROXY_CPU : undefined }
  const load: LoadOptions = { durationS: opts.durationS, warmupS: opts.warmupS, clients: opts.clients, streams: opts.streams, threads: opts.threads, cpu: opts.pin ? LOAD_CPU : undefined, tmpDir }
  let rows: Row[]
  try {
    rows = await runRounds({
      rounds: opts.rounds,
      targets,
      scenarios,
      env,
      // Percentiles from h2load's log are µs over 1000: two decimals, not a float's tail.
      ms: (n) => n.toFixed(2),
      async measure (running, sc, counted) {
        // From the start, in case the warm-up's timer has not fired by the end.
        counted()
        const { tls, ...measurement } = await runH2load(running.url, sc, load, counted)
        return { measurement, note: tls }
      }
    })
  } finally {
    await backend.stop()
  }

  const summary = summarise(scenarios, rows, BASELINES)
  const result = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', kernel: release(), platform: process.platform },
    versions: await versions([['nginx', 'nginx', ['-v']], ['h2load', 'h2load', ['--version']], ['openssl', 'openssl', ['version']]]),
    options: { tool: 'h2load', durationS: opts.durationS, warmupS: opts.warmupS, rounds: opts.rounds, clients: opts.clients, streams: opts.streams, threads: opts.threads, pin: opts.pin, backend: backend.kind },
    notes,
    rows,
    summary
  }
  const dir = join(root, 'bench/results')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `h2-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  await writeFile(file, JSON.stringify(result, null, 2) + '\n')

  if (opts.json) {
    console.log(JSON.stringify(result, null, 2))
    return
  }
  console.log(markdown(scenarios, summary, heading, BASELINES))
  console.log(notes.map((n) => `- ${n}`).join('\n'))
  console.log(`\nMachine: ${result.machine.cpus} × ${result.machine.model}, Node ${process.version}. JSON: ${relative(process.cwd(), file)}`)
  if (opts.cpuProfDir !== undefined) console.log(`CPU profiles: ${opts.cpuProfDir}`)
}

main().catch(async (err: unknown) => {
  console.error(err instanceof Error ? err.message : err)
  await stopAll()
  process.exit(1)
})
