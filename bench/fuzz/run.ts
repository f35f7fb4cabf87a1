// `npm run fuzz`: random and mutated request bytes against the real CLI (2 workers) in front of a node:http backend,
// and at the same time plain requests under /mut/ to a backend answering with mutated responses (responses.ts), for
// a fixed time. Fails (exit 1) if a worker died or was replaced, the proxy stops answering, faulted (500) on either
// side, or the node:http backend got bytes its strict parser refused. The seed is printed; `--seed N` replays it.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { fuzz, plainStatus, startFuzzBackend, vitals } from './fuzz.ts'
import { fuzzResponses, startMutatingBackend } from './responses.ts'

const USAGE = `usage: npm run fuzz -- [options]
  --duration S      seconds of fuzzing (default 30)
  --seed N          PRNG seed (default: random; printed)
  --concurrency N   concurrent sockets (default 32)
  --workers N       proxy workers (default 2)
  --engine E        the listener's engine: uws (default) or node`

const CLI = fileURLToPath(new URL('../../workers/cli.js', import.meta.url))

function int (name: string, text: string, min: number): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer ≥ ${min}, got '${text}'`)
  return n
}

async function freePort (): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address() as AddressInfo
  s.close()
  await once(s, 'close')
  return port
}

async function main (): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '30' },
      seed: { type: 'string' },
      concurrency: { type: 'string', default: '32' },
      workers: { type: 'string', default: '2' },
      engine: { type: 'string', default: 'uws' },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.help) { console.log(USAGE); return 0 }
  const durationMs = int('duration', values.duration, 1) * 1000
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : int('seed', values.seed, 0)
  const concurrency = int('concurrency', values.concurrency, 1)
  const workers = int('workers', values.workers, 1)
  const engine = values.engine
  if (engine !== 'uws' && engine !== 'node') throw new Error(`--engine: expected uws or node, got '${engine}'`)

  const backend = await startFuzzBackend()
  const mutating = await startMutatingBackend(seed)
  const [port, adminPort] = [await freePort(), await freePort()]
  const dir = mkdtempSync(join(tmpdir(), 'swy-fuzz-'))
  const file = join(dir, 'config.json')
  writeFileSync(file, JSON.stringify({
    listen: [{ host: '127.0.0.1', port, engine }],
    workers,
    admin: { port: adminPort },
    log: { level: 'warn' },
    // Mutated answers that look valid but never finish (a length longer than the body) end at the response timeout.
    upstreams: { a: { servers: [{ url: backend.url }] }, m: { servers: [{ url: mutating.url }], timeouts: { response: '1s' } } },
    routes: [{ match: { path: '/mut/' }, upstream: 'm' }, { upstream: 'a' }]
  }))
  const proxy = spawn(process.execPath, [CLI, 'start', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  proxy.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  proxy.stdout.resume()
  const adminUrl = `http://127.0.0.1:${adminPort}`
  const failures: string[] = []
  try {
    // Ready once the admin API reports every worker of the first generation.
    const until = Date.now() + 20_000
    for (;;) {
      if (proxy.exitCode !== null) throw new Error(`switchyard exited with ${proxy.exitCode}: ${stderr}`)
      try { if ((await vitals(adminUrl)).pids.length === workers && await plainStatus(port) === 200) break } catch {}
      if (Date.now() > until) throw new Error(`switchyard not ready after 20 s: ${stderr}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    const before = await vitals(adminUrl)
    console.log(`fuzz: seed ${seed}, ${durationMs / 1000} s, ${concurrency} sockets, workers ${before.pids.join(', ')}`)
    const [stats, answers] = await Promise.all([
      fuzz({ port, durationMs, seed, concurrency }),
      fuzzResponses({ port, prefix: '/mut/', durationMs, seed, concurrency: Math.max(1, concurrency >> 1) })
    ])
    const after = await vitals(adminUrl)
    const status = await plainStatus(port)
    console.log(JSON.stringify({ ...stats, internal: stats.internal.length, backendRequests: backend.requests(), backendParseErrors: backend.parseErrors.length }, null, 2))
    console.log(JSON.stringify({ mutatedResponses: { ...answers, internal: answers.internal.length, backendAnswers: mutating.answered() } }, null, 2))
    if (after.pids.join() !== before.pids.join()) failures.push(`workers changed: ${before.pids.join(', ')} → ${after.pids.join(', ')}`)
    if (after.restarts !== before.restarts) failures.push(`worker restarts: ${after.restarts}`)
    if (status !== 200) failures.push(`a plain GET afterwards got ${status === 0 ? 'no answer' : status}`)
    if (stats.internal.length > 0) failures.push(`500 (a fault in the proxy) for:\n    ${stats.internal.slice(0, 5).join('\n    ')}`)
    if (answers.internal.length > 0) failures.push(`500 (a fault in the proxy) on mutated responses to:\n    ${answers.internal.slice(0, 5).join('\n    ')}`)
    if (answers.requests === 0 || mutating.answered() === 0) failures.push('no mutated response was exchanged')
    if (backend.parseErrors.length > 0) failures.push(`the backend refused what the proxy sent: ${[...new Set(backend.parseErrors)].join('; ')}`)
  } finally {
    proxy.kill('SIGTERM')
    if (proxy.exitCode === null) await once(proxy, 'exit')
    await backend.close()
    await mutating.close()
    rmSync(dir, { recursive: true, force: true })
  }
  if (failures.length > 0) {
    console.error(`fuzz FAILED (seed ${seed}; rerun with --seed ${seed}):\n  ${failures.join('\n  ')}`)
    return 1
  }
  console.log(`fuzz passed (seed ${seed})`)
  return 0
}

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
