// The access line's cost per request as a worker pays it: createAccessLog writing to stdout through the worker's
// logger (createLogger), for exchanges shaped like the 100 B bench's (wrk's GET with a Host header, our request id and
// traceparent, a route and a server). Lines go in turns of 50, as 50 connections' requests would, and the event loop
// turns between them. Prints ns per line (the time in logAccess, writes included) on stderr, the median of rounds.
// Where stdout goes decides the writes, as in a worker: `> /dev/shm/f` a regular file (64 KiB pieces), `| cat >
// /dev/null` a pipe (4 KiB pieces). It uses only what earlier builds have too, so another build's figure comes from
// running this file from a copy of its dist: `node dist/bench/micro/access-line.bench.js [rounds] > /dev/shm/f`.
import { Buffer } from 'node:buffer'
import { fstatSync } from 'node:fs'
import { setImmediate as turn } from 'node:timers/promises'
import { createAccessLog } from '../../src/log/access.ts'
import { createLogger, type Logger } from '../../src/log/logger.ts'
import { Exchange, type Downstream } from '../../src/pipeline/index.ts'

const rounds = Number(process.argv[2] ?? 7)
const LINES = 200_000
const sink: Downstream = { onDrain: null, start () {}, write () { return true }, end () {}, abort () {}, reply () {} }
const log = createLogger({ level: 'info', pretty: false, base: { role: 'worker', worker: 1, generation: 1 }, holdMs: 100 })
// Earlier builds took the clock here and read it themselves; this one takes each exchange's end time.
type AccessLog = (log: Logger, clock: () => number) => (ex: Exchange, end: number) => void
const logAccess = (createAccessLog as AccessLog)(log, () => performance.now())
const route = { id: '/', upstream: 'bench', stages: [] }
const target = { index: 0, url: 'http://127.0.0.1:18080', weight: 1, inflight: 0, healthy: true }

/** A flat string of its own, as the engine makes a request's strings. */
const fresh = (s: string): string => Buffer.from(s).toString('latin1')

/** A finished exchange. */
function exchange (i: number): Exchange {
  const ex = new Exchange({
    method: fresh('GET'), path: fresh('/100b'), query: '', host: fresh('127.0.0.1:18081'), headers: [fresh('host'), fresh('127.0.0.1:18081')],
    contentLength: -1, contentLengthCount: 0, chunked: false, peerIp: fresh('127.0.0.1'), tls: false, startTime: performance.now(),
    body: null, downstream: sink, replies: { reply () {}, fault () {} }, onComplete: () => {}
  })
  ex.requestId = `${(0x10000000 + i).toString(16)}-${i.toString(36)}`
  ex.traceparent = `00-${(0x10000000 + i).toString(16)}a1b2c3d4e5f6a7b8c9d0e1f2-b7ad6b7169203331-01`
  ex.status = 200
  ex.bytesSent = 100
  ex.attempts = 1
  ex.upstreamTtfb = 0.37
  ex.route = route
  ex.target = target
  return ex
}

const pool = Array.from({ length: 1000 }, (_, i) => exchange(i))
async function run (): Promise<number> {
  let busy = 0
  for (let i = 0; i < LINES; i += 50) {
    const start = performance.now()
    for (let j = 0; j < 50; j++) logAccess(pool[(i + j) % 1000]!, performance.now())
    busy += performance.now() - start
    await turn()
  }
  return busy * 1e6 / LINES
}
await run() // warm-up
const ns: number[] = []
for (let r = 0; r < rounds; r++) ns.push(await run())
ns.sort((a, b) => a - b)
const to = fstatSync(1).isFile() ? 'a regular file' : 'a pipe or socket'
process.stderr.write(`access line to ${to}: ${ns[Math.floor(ns.length / 2)]!.toFixed(0)} ns per line (median of ${rounds} rounds of ${LINES}; min ${ns[0]!.toFixed(0)}, max ${ns.at(-1)!.toFixed(0)}), Node ${process.versions.node}\n`)
