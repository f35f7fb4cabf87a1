// `npm run bench:pairs -- --targets A,B`: how B's rate compares with A's, for differences of a few percent that the
// rounds of `bench:wrk` cannot see on a shared machine. There, each target runs for seconds at a time, and this
// machine's speed moves by up to half over tens of seconds, so one round's ratio can be off by more than what is
// measured. Here both targets run at once (pinned to the same CPU, loaded one at a time), wrk loads them in slices of
// a second, in turn and in alternating order, and each pair of slices gives a ratio B/A: a slowdown spans both slices
// of a pair far more often than it falls between them. Each instance pair's result is the median of its slices'
// ratios, and the run's result the median over instance pairs, each pair started fresh (in alternating order), so
// that one process's luck (its heap and code layout, its JIT's choices) does not decide the answer. Run A against
// A to see the method's own spread. Prints markdown, writes bench/results/pairs-<time>.json.

import { existsSync, rmSync } from 'node:fs'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { cpus, release, tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { execFileSync } from 'node:child_process'
import { installCleanup, stopAll } from './children.ts'
import { positiveInt } from './options.ts'
import { parseVariant, startFastBackend, switchyard, type RunningTarget, type TargetEnv, type TargetSpec } from './targets.ts'
import { runWrk, SCENARIOS, type LoadOptions } from './tools.ts'

const USAGE = `usage: node dist/bench/load/pairs.js --targets A,B [options]
  --targets A,B      the two targets (ids as bench:wrk's: switchyard-1, switchyard-1-log, …@NAME with --variant)
  --instances N      instance pairs, each started fresh (default 6)
  --slices N         pairs of 1-s slices per instance pair (default 10)
  --slice S          seconds per slice (default 1)
  --scenario ID      ${SCENARIOS.map((s) => s.id).join(', ')} (default 100b)
  --connections N    concurrent connections (default 50)
  --variant V        another build or Node flags: NAME=[ROOT][,NODE-FLAG...] (as bench:wrk's)`

// As bench:wrk --pin: the proxies on CPU 1, the backend and wrk on CPU 0.
const PROXY_CPU = 1
const LOAD_CPU = 0
const WARMUP_S = 2

/** The median of `xs` (not empty). */
function median (xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** One instance pair's slices: req/s of A and B in each pair of slices. */
interface Slices { readonly a: readonly number[], readonly b: readonly number[] }

/** The pair's ratio B/A: the median of its slice pairs' ratios. */
function pairRatio (s: Slices): number {
  return median(s.a.map((a, i) => s.b[i]! / a))
}

function parseOptions () {
  const { values } = parseArgs({
    options: {
      targets: { type: 'string' },
      instances: { type: 'string', default: '6' },
      slices: { type: 'string', default: '10' },
      slice: { type: 'string', default: '1' },
      scenario: { type: 'string', default: '100b' },
      connections: { type: 'string', default: '50' },
      variant: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.help) { console.log(USAGE); process.exit(0) }
  const all: TargetSpec[] = [switchyard('1'), switchyard('1', false, false), switchyard('1', true),
    ...(values.variant ?? []).map(parseVariant).flatMap((v) => [switchyard('1', false, true, 'uws', v), switchyard('1', true, true, 'uws', v)])]
  const ids = (values.targets ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (ids.length !== 2) throw new Error(`--targets: expected two ids, A,B (known: ${all.map((t) => t.id).join(', ')})`)
  const targets = ids.map((id) => {
    const t = all.find((x) => x.id === id)
    if (t === undefined) throw new Error(`--targets: unknown ${id} (known: ${all.map((x) => x.id).join(', ')})`)
    return t
  }) as [TargetSpec, TargetSpec]
  const scenario = SCENARIOS.find((s) => s.id === values.scenario)
  if (scenario === undefined) throw new Error(`--scenario: unknown ${values.scenario} (known: ${SCENARIOS.map((s) => s.id).join(', ')})`)
  return {
    targets,
    scenario,
    instances: positiveInt('instances', values.instances),
    slices: positiveInt('slices', values.slices),
    sliceS: positiveInt('slice', values.slice),
    connections: positiveInt('connections', values.connections)
  }
}

async function main (): Promise<void> {
  const opts = parseOptions()
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
  if (cpus().length < 2) throw new Error('bench:pairs pins the proxies to CPU 1 and wrk to CPU 0: it needs 2 CPUs')
  execFileSync('taskset', ['-a', '-p', '-c', String(LOAD_CPU), String(process.pid)], { stdio: 'ignore' })
  const tmpDir = await mkdtemp(join(tmpdir(), 'switchyard-pairs-'))
  installCleanup(() => rmSync(tmpDir, { recursive: true, force: true }))
  const logDir = existsSync('/dev/shm') ? await mkdtemp(join('/dev/shm', 'switchyard-pairs-log-')) : tmpDir
  if (logDir !== tmpDir) installCleanup(() => rmSync(logDir, { recursive: true, force: true }))
  const backend = await startFastBackend(root, tmpDir, LOAD_CPU)
  const env: TargetEnv = { root, tmpDir, logDir, backendPort: backend.port, ...(backend.pgid === undefined ? {} : { backendPgid: backend.pgid }), cpu: PROXY_CPU }
  const load = (durationS: number): LoadOptions => ({ durationS, connections: opts.connections, threads: 1, cpu: LOAD_CPU, tmpDir })
  const [ta, tb] = opts.targets
  for (const t of opts.targets) {
    const why = t.unavailable(env)
    if (why !== undefined) throw new Error(`[${t.id}] ${why}`)
  }
  const startedAt = new Date()
  const heading = `### Pairs: ${tb.id} ÷ ${ta.id}, ${opts.scenario.title}, wrk ${opts.connections} connections, ${opts.instances} instance pairs × ${opts.slices} pairs of ${opts.sliceS} s slices, both proxies on CPU ${PROXY_CPU}, backend (${backend.kind}) and wrk on CPU ${LOAD_CPU}`
  console.error(heading)
  const pairs: Array<Slices & { ratio: number }> = []
  try {
    for (let k = 0; k < opts.instances; k++) {
      // Started in alternating order: neither target always gets the first process's place.
      // (A against A starts two processes of one target.)
      const running: Array<RunningTarget | undefined> = [undefined, undefined]
      try {
        for (const i of k % 2 === 0 ? [0, 1] : [1, 0]) running[i] = await opts.targets[i]!.start(env)
        const [ra, rb] = running as [RunningTarget, RunningTarget]
        for (const r of [ra, rb]) await runWrk(r.url, opts.scenario, load(WARMUP_S))
        const a: number[] = []
        const b: number[] = []
        for (let i = 0; i < opts.slices; i++) {
          if (i % 2 === 0) {
            a.push((await runWrk(ra.url, opts.scenario, load(opts.sliceS))).rps)
            b.push((await runWrk(rb.url, opts.scenario, load(opts.sliceS))).rps)
          } else {
            b.push((await runWrk(rb.url, opts.scenario, load(opts.sliceS))).rps)
            a.push((await runWrk(ra.url, opts.scenario, load(opts.sliceS))).rps)
          }
        }
        const ratio = pairRatio({ a, b })
        pairs.push({ a, b, ratio })
        console.error(`[pair ${k + 1}] ${tb.id} ÷ ${ta.id}: ${ratio.toFixed(3)} (A ${Math.round(median(a))}, B ${Math.round(median(b))} req/s, medians of ${opts.slices} slices)`)
      } finally {
        for (const r of running) await r?.stop()
      }
    }
  } finally {
    await backend.stop()
  }
  const ratios = pairs.map((p) => p.ratio)
  const result = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', kernel: release(), node: process.version },
    options: { a: ta.id, b: tb.id, scenario: opts.scenario.id, instances: opts.instances, slices: opts.slices, sliceS: opts.sliceS, connections: opts.connections, backend: backend.kind },
    ratio: median(ratios),
    pairs
  }
  const dir = join(root, 'bench/results')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `pairs-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  await writeFile(file, JSON.stringify(result, null, 2) + '\n')
  const sorted = [...ratios].sort((x, y) => x - y)
  console.log(`${heading}\n\n| ${tb.label} ÷ ${ta.label} | median of instance pairs | min–max | every pair |\n| --- | ---: | ---: | --- |\n` +
    `| ${opts.scenario.title} req/s | ${result.ratio.toFixed(3)} | ${sorted[0]!.toFixed(3)}–${sorted.at(-1)!.toFixed(3)} | ${ratios.map((r) => r.toFixed(3)).join(', ')} |`)
  console.log(`\nMachine: ${result.machine.cpus} × ${result.machine.model}, Node ${process.version}. JSON: ${relative(process.cwd(), file)}`)
}

main().catch(async (err: unknown) => {
  console.error(err instanceof Error ? err.message : err)
  await stopAll()
  process.exit(1)
})
