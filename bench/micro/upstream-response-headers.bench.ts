// Response-header handling per request: our raw-Buffer filter (what forward.ts uses with undici's native handler
// shape) against undici's controller API, which parses every header into an object that we would then walk.
import { createRequire } from 'node:module'
import { createResponseHeaderFilter } from '../../src/upstream/index.ts'

const { parseHeaders } = createRequire(import.meta.url)('undici/lib/core/util.js') as { parseHeaders (h: Buffer[]): Record<string, string | string[]> }

// What a typical backend (node:http, express) sends.
const raw = [
  'Content-Type', 'application/json; charset=utf-8', 'Content-Length', '100', 'Date', 'Fri, 27 Nov 2026 05:00:00 GMT',
  'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'X-Powered-By', 'Express', 'ETag', 'W/"64-abc"',
  'Cache-Control', 'no-cache', 'Set-Cookie', 'a=1; Path=/', 'Set-Cookie', 'b=2; Path=/'
].map((s) => Buffer.from(s, 'latin1'))

const filter = createResponseHeaderFilter({ hide: ['server', 'x-powered-by'], via: true })
const DROP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length', 'date', 'server', 'x-powered-by', 'via'])

function viaObject (): number {
  const h = parseHeaders(raw)
  const out: string[] = []
  let length = -1
  for (const k in h) {
    const v = h[k]!
    if (DROP.has(k)) { if (k === 'content-length') length = Number(v); continue }
    if (typeof v === 'string') out.push(k, v)
    else for (const x of v) out.push(k, x)
  }
  out.push('via', '1.1 switchyard', 'x-request-id', 'id-1')
  return out.length + length
}

function viaRaw (): number {
  const r = filter(raw, 'id-1')
  return r.headers.length + r.length
}

function opsPerSec (fn: () => number, ms: number): number {
  let n = 0
  let sink = 0
  const end = performance.now() + ms
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) sink += fn()
    n += 1000
  }
  if (sink === 42) console.log('')
  return n / (ms / 1000)
}

const rounds = Number(process.argv[2] ?? 5)
const base: number[] = []
const cand: number[] = []
opsPerSec(viaObject, 200); opsPerSec(viaRaw, 200) // warm up both
for (let r = 0; r < rounds; r++) { // alternate, so machine noise hits both
  base.push(opsPerSec(viaObject, 300))
  cand.push(opsPerSec(viaRaw, 300))
}
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!
console.log(`baseline  undici parseHeaders + walk: ${Math.round(median(base)).toLocaleString()} ops/s`)
console.log(`candidate raw Buffer filter:          ${Math.round(median(cand)).toLocaleString()} ops/s`)
console.log(`ratio candidate/baseline: ${(median(cand) / median(base)).toFixed(2)}`)
