// `npm run bench:upstream`: what reading backend responses costs the upstream side of a worker, apart from the proxy.
// One backend (bench/servers/backend.ts) on CPU 0; on CPU 1, alternating, a client process that keeps 50 requests in
// flight for --duration seconds and discards the bodies: through Switchyard's own client (src/upstream: a ServerPool
// as the workers build them), through an undici Pool (pipelining 1, the native dispatch handler the upstream stage
// used before), or through plain node:net sockets that frame each response by its Content-Length (the least any
// Node HTTP client can spend). All run with the workers' V8 flags. Prints CPU microseconds per response, user and
// kernel, and each client ÷ net; writes bench/results/upstream-*.json.

import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { cpus, release } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Pool } from 'undici'
import { WORKER_V8_FLAGS } from '../../src/cluster/supervisor.ts'
import { ServerPool, UpstreamClock, type ResponseHandler } from '../../src/upstream/index.ts'
import { installCleanup, pinned, spawnChild, stopAll, waitForJsonLine } from './children.ts'
import { startBackendChild } from './targets.ts'
import { positiveInt } from './options.ts'

const USAGE = `usage: node dist/bench/load/upstream-read.js [options]
  --path P          backend path: /64k (default) or /100b
  --duration S      seconds per client run (default 5)
  --runs N          rounds of switchyard + undici + net, alternating (default 3; the median is reported)
  --inflight N      requests in flight (default 50)`

const CLIENTS = ['switchyard', 'undici', 'net'] as const
type ClientName = typeof CLIENTS[number]

interface Result { readonly client: ClientName, readonly responses: number, readonly seconds: number, readonly userUs: number, readonly sysUs: number }

/** The client side, run in a child pinned to its own CPU: prints one JSON line of totals. */
async function runClient (client: ClientName, port: number, path: string, inflight: number, seconds: number): Promise<void> {
  let responses = 0
  const deadline = Date.now() + seconds * 1000
  const start = process.cpuUsage()
  const t0 = Date.now()
  await new Promise<void>((resolve) => {
    let live = inflight
    const stopped = (): void => { if (--live === 0) resolve() }
    if (client === 'switchyard') {
      const clock = new UpstreamClock()
      const pool = new ServerPool({ host: '127.0.0.1', port, tls: undefined, timeouts: { connect: 2000, response: 30_000, idle: 60_000 } }, inflight, clock)
      const head = `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`
      const one = (): void => {
        if (Date.now() >= deadline) { stopped(); return }
        const handler: ResponseHandler = {
          onHead () {},
          onWhole () {},
          onBody () { return true },
          onEnd () { responses++; one() },
          onError (err) { throw err }
        }
        pool.request({ head, isHead: false, body: null, chunked: false, length: -1, retryStale: true }, handler)
      }
      for (let i = 0; i < inflight; i++) one()
      return
    }
    if (client === 'undici') {
      const pool = new Pool(`http://127.0.0.1:${port}`, { connections: inflight, pipelining: 1 })
      const one = (): void => {
        if (Date.now() >= deadline) { stopped(); return }
        pool.dispatch({ path, method: 'GET', headers: ['host', '127.0.0.1'] }, {
          onConnect () {},
          onHeaders () { return true },
          onData () { return true },
          onComplete () { responses++; one() },
          onError (err) { throw err }
        })
      }
      for (let i = 0; i < inflight; i++) one()
      return
    }
    const request = Buffer.from(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`)
    for (let i = 0; i < inflight; i++) {
      const socket = connect(port, '127.0.0.1')
      let head: Buffer | null = null
      let left = -1
      socket.on('data', (chunk: Buffer) => {
        if (left < 0) {
          head = head === null ? chunk : Buffer.concat([head, chunk])
          const end = head.indexOf('\r\n\r\n')
          if (end < 0) return
          const m = /\r\ncontent-length: *(\d+)/i.exec(head.subarray(0, end).toString('latin1'))
          if (m === null) throw new Error('net client: the bench backend answered without Content-Length')
          left = Number(m[1]) - (head.length - end - 4)
          head = null
        } else {
          left -= chunk.length
        }
        if (left > 0) return
        responses++
        left = -1
        if (Date.now() < deadline) socket.write(request)
        else { socket.destroy(); stopped() }
      })
      socket.write(request)
    }
  })
  const cpu = process.cpuUsage(start)
  const result: Result = { client, responses, seconds: (Date.now() - t0) / 1000, userUs: cpu.user, sysUs: cpu.system }
  process.stdout.write(JSON.stringify(result) + '\n')
  process.exit(0)
}

/** The run with the median CPU per response. */
function median (xs: readonly Result[]): Result {
  const cost = (x: Result): number => (x.userUs + x.sysUs) / x.responses
  const s = [...xs].sort((a, b) => cost(a) - cost(b))
  return s[Math.floor(s.length / 2)]!
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      path: { type: 'string', default: '/64k' },
      duration: { type: 'string', default: '5' },
      runs: { type: 'string', default: '3' },
      inflight: { type: 'string', default: '50' },
      client: { type: 'string' },
      port: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.help) { console.log(USAGE); return }
  if (values.path !== '/64k' && values.path !== '/100b') throw new Error(`--path: expected /64k or /100b, got '${values.path}'`)
  const seconds = positiveInt('duration', values.duration)
  const inflight = positiveInt('inflight', values.inflight)
  if (values.client !== undefined) {
    if (!(CLIENTS as readonly string[]).includes(values.client)) throw new Error(`--client: expected ${CLIENTS.join(', ')}, got '${values.client}'`)
    await runClient(values.client as ClientName, positiveInt('port', values.port ?? ''), values.path, inflight, seconds)
    return
  }
  const runs = positiveInt('runs', values.runs)
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
  const self = join(root, 'dist/bench/load/upstream-read.js')
  if (!existsSync(self)) throw new Error('dist/bench/load/upstream-read.js is not built: npm run build')
  installCleanup(() => {})
  const backend = await startBackendChild(root, 0)
  const results: Result[] = []
  for (let r = 0; r < runs; r++) {
    for (const client of CLIENTS) {
      const [cmd, args] = pinned(1, process.execPath, [...WORKER_V8_FLAGS, self, '--client', client, '--port', String(backend.port), '--path', values.path, '--duration', String(seconds), '--inflight', String(inflight)])
      const child = spawnChild(`client-${client}`, cmd, args, root)
      const line = await waitForJsonLine(child, (v): v is Result => typeof (v as { responses?: unknown } | null)?.responses === 'number', (seconds + 20) * 1000)
      await child.exited
      results.push(line)
      console.error(`round ${r + 1}/${runs} ${client}: ${Math.round(line.responses / line.seconds)} responses/s, ${(line.userUs / line.responses).toFixed(1)} µs user + ${(line.sysUs / line.responses).toFixed(1)} µs kernel per response`)
    }
  }
  await backend.stop()
  const rows = CLIENTS.map((c) => {
    const m = median(results.filter((x) => x.client === c))
    return { client: c, rps: m.responses / m.seconds, userUs: m.userUs / m.responses, sysUs: m.sysUs / m.responses }
  })
  const n = rows.find((x) => x.client === 'net')!
  const label: Record<ClientName, string> = { switchyard: 'Switchyard (src/upstream ServerPool)', undici: 'undici Pool (as Switchyard used it)', net: 'node:net, framed by Content-Length' }
  console.log([
    `### Reading ${values.path} responses, ${inflight} in flight, ${seconds} s × ${runs} runs per client, the run with the median CPU per response; client on CPU 1, backend on CPU 0`,
    '',
    '| client | responses/s | µs CPU per response, user / kernel | total |',
    '|---|---:|---:|---:|',
    ...rows.map((x) => `| ${label[x.client]} | ${Math.round(x.rps)} | ${x.userUs.toFixed(1)} / ${x.sysUs.toFixed(1)} | ${(x.userUs + x.sysUs).toFixed(1)} |`),
    '',
    `CPU per response ÷ net: ${rows.filter((x) => x !== n).map((x) => `${x.client} **${((x.userUs + x.sysUs) / (n.userUs + n.sysUs)).toFixed(2)}×**`).join(', ')}. A client below 100% of its CPU was waiting on the backend (net usually is), so compare CPU per response, not responses/s.`,
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Linux ${release()}, Node ${process.version}`
  ].join('\n'))
  const dir = join(root, 'bench/results')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `upstream-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  await writeFile(file, JSON.stringify({ path: values.path, inflight, seconds, runs: results, rows }, null, 2) + '\n')
  console.error(`wrote ${relative(process.cwd(), file)}`)
}

main().catch(async (err: unknown) => {
  console.error(err)
  await stopAll()
  process.exit(1)
})
