// How a worker's heap behaves under proxying load, read from V8's own trace (--trace-gc-nvp, passed on by the primary):
// a scavenge keeps only what is in flight. On Node 24, V8's allocation-site pretenuring once put the request path's
// objects in the old generation, where each dead one kept everything it pointed to alive through scavenges: 1.75 MB
// promoted per scavenge instead of ~20 KB, and a p99 four times nginx's (src/cluster/supervisor.ts, WORKER_V8_FLAGS).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import autocannon from 'autocannon'
import { startBackend, startProxy } from '../helpers/index.ts'

const WARMUP = 20_000
const REQUESTS = 40_000
/** What 50 requests in flight and the worker's own state can hold; the pretenuring fault promoted 1.75 MB. */
const PROMOTED_BUDGET = 512 * 1024

interface Scavenge { readonly pid: number, readonly promoted: number }

function scavengesOf (lines: readonly string[]): Scavenge[] {
  const out: Scavenge[] = []
  for (const l of lines) {
    if (!l.includes(' gc=s ')) continue
    const pid = /^\[(\d+):/.exec(l)
    const promoted = / promoted=(\d+)/.exec(l)
    if (pid !== null && promoted !== null) out.push({ pid: Number(pid[1]), promoted: Number(promoted[1]) })
  }
  return out
}

function median (xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

test('under load a worker\'s scavenges promote only what is in flight (no pretenuring of the request path)', async (t) => {
  const body = Buffer.alloc(100, 'x')
  const backend = await startBackend(t, (_req, res) => { res.setHeader('content-type', 'text/plain'); res.end(body) })
  const proxy = await startProxy(t, {
    upstreams: { a: { servers: [{ url: backend.url }] } },
    routes: [{ upstream: 'a' }],
    log: { access: false }
  }, { nodeArgs: ['--trace-gc-nvp'] })
  const [worker] = proxy.workerPids()
  assert.ok(worker !== undefined, 'a worker pid')
  const load = async (amount: number): Promise<void> => {
    const r = await autocannon({ url: `${proxy.url}/x`, connections: 50, amount } as Parameters<typeof autocannon>[0])
    assert.equal(r.non2xx + r.errors + r.timeouts, 0, 'every request answered 200')
  }
  // Warm-up: while the young generation grows to its size, V8 promotes whatever it holds; those scavenges say nothing.
  await load(WARMUP)
  const from = proxy.logs.length
  await load(REQUESTS)
  const raw = proxy.logs.slice(from).map((l) => l.raw).filter((l): l is string => typeof l === 'string')
  const steady = scavengesOf(raw).filter((s) => s.pid === worker)
  assert.ok(steady.length >= 5, `too few scavenges to judge (${steady.length}): the trace was not read or the load too small`)
  const m = median(steady.map((s) => s.promoted))
  assert.ok(m <= PROMOTED_BUDGET, `a scavenge promoted ${Math.round(m / 1024)} KB (median of ${steady.length}), budget ${PROMOTED_BUDGET / 1024} KB: ${steady.map((s) => Math.round(s.promoted / 1024)).join(' ')}`)
})
