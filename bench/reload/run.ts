// Reloads under load: a real Switchyard (its CLI, its workers) in front of a backend, driven by many concurrent
// clients while `switchyard reload` swaps generations again and again. Counts every request and every failure.
//
//   npm run bench:reload [-- --connections 64 --reloads 10 --duration 30 --modes keepalive,close,agent-close --workers 2
//                            --drain-timeout 10s]
//
// As root it re-runs itself in a private network namespace (unshare --net) with net.ipv4.tcp_migrate_req=1, as
// README "Reloads" recommends for deployments; --no-netns runs in the current namespace, sysctl as it is.
// Exit code 0 only if every request succeeded and every reload reported success.
import { request, Agent, createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { AddressInfo } from 'node:net'
import { spawnChild, stopChild, installCleanup, waitForJsonLine, type Child } from '../load/children.ts'

const CLI = fileURLToPath(new URL('../../workers/cli.js', import.meta.url))
const MIGRATE = '/proc/sys/net/ipv4/tcp_migrate_req'

export interface ModeResult {
  /**
   * keepalive: a keep-alive Agent; close: a new connection per request (`Connection: close`, no agent);
   * agent-close: a shared keep-alive Agent whose requests say `Connection: close` (RFC 9112 §9.6: the answer must
   * say it too, or the Agent reuses a socket the server is closing and the next request gets ECONNRESET).
   */
  readonly mode: 'keepalive' | 'close' | 'agent-close'
  readonly connections: number
  readonly durationMs: number
  readonly requests: number
  readonly ok: number
  readonly failed: number
  /** Failures by kind: `status 502`, `ECONNRESET`, … */
  readonly failures: Record<string, number>
  readonly reloads: number
  readonly reloadsFailed: number
  /** Generation serving at the end (1 + successful reloads). */
  readonly generation: number
  /** Old workers that still had requests at their drain deadline (their clients did not leave in time). */
  readonly drainCuts: number
}

export interface ReloadBenchResult {
  readonly netns: boolean
  readonly migrateReq: string
  readonly workers: number
  readonly modes: ModeResult[]
}

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '64' },
    reloads: { type: 'string', default: '10' },
    duration: { type: 'string', default: '30' },
    modes: { type: 'string', default: 'keepalive,close' },
    workers: { type: 'string', default: '2' },
    /** shutdown.drain_timeout of the proxy: how long an old generation may take to let its clients go. */
    'drain-timeout': { type: 'string', default: '10s' },
    'no-netns': { type: 'boolean', default: false },
    'in-netns': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false }
  }
})

function canUnshare (): boolean {
  return process.getuid?.() === 0 && spawnSync('unshare', ['--net', 'true']).status === 0
}

async function main (): Promise<number> {
  if (!args['in-netns'] && !args['no-netns'] && canUnshare()) {
    // Same program, same flags, in a fresh network namespace: only loopback, and a sysctl of its own.
    const child = spawn('unshare', ['--net', process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2), '--in-netns'], { stdio: 'inherit' })
    const [code] = await once(child, 'exit') as [number | null]
    return code ?? 1
  }
  if (args['in-netns']) {
    const up = spawnSync('ip', ['link', 'set', 'lo', 'up'])
    if (up.status !== 0) throw new Error(`ip link set lo up: ${up.stderr.toString()}`)
    writeFileSync(MIGRATE, '1')
  }
  let migrateReq = 'unknown'
  try { migrateReq = readFileSync(MIGRATE, 'utf8').trim() } catch { /* not Linux ≥ 5.14 */ }

  const connections = Number(args.connections)
  const reloads = Number(args.reloads)
  const durationMs = Number(args.duration) * 1000
  const workers = Number(args.workers)
  const modes = args.modes.split(',').map((m) => m.trim()) as Array<ModeResult['mode']>
  for (const m of modes) if (!['keepalive', 'close', 'agent-close'].includes(m)) throw new Error(`--modes: unknown mode ${m} (keepalive, close, agent-close)`)

  const backend = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' })
    res.end('ok\n')
  })
  backend.keepAliveTimeout = 65_000
  backend.listen(0, '127.0.0.1')
  await once(backend, 'listening')
  const backendUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`

  const dir = mkdtempSync(join(tmpdir(), 'swy-reload-'))
  const result: ReloadBenchResult = { netns: args['in-netns'], migrateReq, workers, modes: [] }
  try {
    for (const mode of modes) result.modes.push(await runMode(mode, { connections, reloads, durationMs, workers, backendUrl, dir }))
  } finally {
    backend.closeAllConnections()
    backend.close()
    rmSync(dir, { recursive: true, force: true })
  }
  if (args.json) process.stdout.write(JSON.stringify(result) + '\n')
  else {
    process.stdout.write(`reloads under load: ${workers} workers, tcp_migrate_req=${migrateReq}${result.netns ? ' (private network namespace)' : ''}\n`)
    for (const m of result.modes) {
      const kinds = Object.entries(m.failures).map(([k, n]) => `${k}: ${n}`).join(', ')
      process.stdout.write(`  ${m.mode.padEnd(9)} ${m.connections} conns, ${(m.durationMs / 1000).toFixed(1)} s: ${m.requests} requests, ${m.failed} failed${kinds === '' ? '' : ` (${kinds})`}; reloads ${m.reloads - m.reloadsFailed}/${m.reloads} ok, generation ${m.generation}, ${m.drainCuts} drains cut at the deadline\n`)
    }
  }
  return result.modes.every((m) => m.failed === 0 && m.reloadsFailed === 0 && m.requests > 0 && m.drainCuts === 0) ? 0 : 1
}

interface ModeOptions {
  readonly connections: number
  readonly reloads: number
  readonly durationMs: number
  readonly workers: number
  readonly backendUrl: string
  readonly dir: string
}

async function freePort (): Promise<number> {
  const s = createServer()
  s.listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address() as AddressInfo
  await new Promise<void>((resolve) => s.close(() => { resolve() }))
  return port
}

async function runMode (mode: ModeResult['mode'], o: ModeOptions): Promise<ModeResult> {
  const port = await freePort()
  const adminPort = await freePort()
  const file = join(o.dir, `${mode}.json`)
  // Each reload flips a visible setting, so every generation really runs a different config.
  const write = (variant: number): void => {
    writeFileSync(file, JSON.stringify({
      listen: [{ host: '127.0.0.1', port }],
      workers: o.workers,
      admin: { port: adminPort },
      log: { level: 'info', access: false },
      headers: { via: variant % 2 === 0 },
      shutdown: { drain_timeout: args['drain-timeout'] },
      upstreams: { app: { servers: [{ url: o.backendUrl }] } },
      routes: [{ upstream: 'app' }]
    }))
  }
  write(0)
  const proxy: Child = spawnChild('switchyard', process.execPath, [CLI, 'start', '-c', file])
  let drainCuts = 0
  proxy.proc.stdout?.on('data', (d: Buffer) => { drainCuts += d.toString().split('drain deadline reached').length - 1 })
  try {
    await waitForJsonLine(proxy, (v): v is { event: string } => (v as { event?: unknown }).event === 'ready')
    const counts = { requests: 0, ok: 0, failed: 0 }
    const failures: Record<string, number> = {}
    const fail = (kind: string): void => { counts.failed++; failures[kind] = (failures[kind] ?? 0) + 1 }
    const agent = mode === 'close' ? false : new Agent({ keepAlive: true, maxSockets: o.connections })
    const end = Date.now() + o.durationMs
    const one = async (): Promise<void> => {
      await new Promise<void>((resolve) => {
        const req = request({ host: '127.0.0.1', port, path: '/', agent, headers: mode === 'keepalive' ? {} : { connection: 'close' } }, (res) => {
          res.resume()
          res.once('end', () => {
            counts.requests++
            if (res.statusCode === 200) counts.ok++
            else fail(`status ${String(res.statusCode)}`)
            resolve()
          })
          res.once('error', (err: NodeJS.ErrnoException) => { counts.requests++; fail(`response ${err.code ?? err.message}`); resolve() })
        })
        req.once('error', (err: NodeJS.ErrnoException) => { counts.requests++; fail(err.code ?? err.message); resolve() })
        req.end()
      })
    }
    const loop = async (): Promise<void> => { while (Date.now() < end) await one() }
    const load = Promise.all(Array.from({ length: o.connections }, loop))

    let reloadsFailed = 0
    const start = Date.now()
    for (let i = 0; i < o.reloads; i++) {
      const at = start + (i + 0.5) * o.durationMs / o.reloads
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())))
      write(i + 1)
      const r = spawnChild('switchyard reload', process.execPath, [CLI, 'reload', '-c', file])
      const code = await r.exited
      if (code !== 0) {
        reloadsFailed++
        // What the primary was doing: alive or not, and its last lines (a refused admin connection means it had gone).
        const state = proxy.proc.exitCode ?? proxy.proc.signalCode ?? 'running'
        const tail = proxy.output().split('\n').filter((l) => l.trim() !== '').slice(-15).join('\n')
        process.stderr.write(`reload ${i + 1} failed (${String(code)}): ${r.output()}\nthe proxy's primary: ${String(state)}; its last lines:\n${tail}\n`)
      }
    }
    await load
    if (agent !== false) agent.destroy()
    if (counts.failed > 0) {
      const lines = proxy.output().split('\n').filter((l) => /"level":(40|50|60)/.test(l))
      process.stderr.write(`${mode}: proxy warnings and errors (last ${Math.min(20, lines.length)} of the log tail):\n${lines.slice(-20).join('\n')}\n`)
    }
    const status = await fetch(`http://127.0.0.1:${adminPort}/api/status`).then(async (r) => await r.json() as { generation: number })
    return { mode, connections: o.connections, durationMs: Date.now() - start, ...counts, failures, reloads: o.reloads, reloadsFailed, generation: status.generation, drainCuts }
  } finally {
    await stopChild(proxy)
  }
}

installCleanup(() => {})
main().then((code) => { process.exit(code) }, (err: unknown) => {
  process.stderr.write(`bench:reload: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
