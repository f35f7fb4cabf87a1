// The other direction of the fuzzer: a backend that answers with mutated responses (the equivalence corpus, bent at
// the byte level, written in random pieces, sometimes cut or reset) and clients sending plain requests through the
// proxy to it. The proxy must answer every one (502/504 for what it refuses) and never fault (500).
import { request as httpRequest, Agent } from 'node:http'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { once } from 'node:events'
import { mutate, prng, type Rand } from './fuzz.ts'
import { RESPONSE_CORPUS } from './response-corpus.ts'

export interface ResponseFuzzStats {
  requests: number
  /** Answers by status class ('2xx' … '5xx'), and requests that got no answer at all (client timeout or reset). */
  statuses: Record<string, number>
  noAnswer: number
  /** Requests answered with the proxy's own 500 (SWY_INTERNAL: a fault in the proxy). */
  internal: string[]
}

export interface MutatingBackend {
  readonly url: string
  /** Responses sent (mutated or not). */
  readonly answered: () => number
  close (): Promise<void>
}

const int = (r: Rand, n: number): number => Math.floor(r() * n)

/** Calls `fn` with each request head read from `s` (bodies framed by Content-Length are skipped): for raw backends. */
export function onRequests (s: Socket, fn: (head: string) => void): void {
  let buf = ''
  s.on('data', (d: Buffer) => {
    buf += d.toString('latin1')
    for (;;) {
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = buf.slice(0, end)
      const len = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0)
      if (buf.length < end + 4 + len) return
      buf = buf.slice(end + 4 + len)
      fn(head)
    }
  })
}

/** A raw TCP backend answering each request head with a mutated corpus response; seeded, one stream per connection. */
export async function startMutatingBackend (seed: number): Promise<MutatingBackend> {
  const sockets = new Set<Socket>()
  let conns = 0
  let answered = 0
  const server = createServer((s) => {
    sockets.add(s)
    const r = prng((seed ^ Math.imul(++conns, 0x85ebca6b)) >>> 0)
    let busy = Promise.resolve()
    onRequests(s, (head) => {
      const get = RESPONSE_CORPUS.filter((c) => c.method === (head.startsWith('HEAD') ? 'HEAD' : 'GET'))
      const bytes = mutate(r, Buffer.from(get[int(r, get.length)]!.bytes, 'latin1'))
      busy = busy.then(async () => { await answer(s, r, bytes); answered++ })
    })
    s.on('error', () => {})
    s.on('close', () => { sockets.delete(s) })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answered: () => answered,
    async close () {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    }
  }
}

/** Writes `bytes` in up to four pieces with short pauses, then maybe ends or resets the connection. */
async function answer (s: Socket, r: Rand, bytes: Buffer): Promise<void> {
  const cuts = [...new Set(Array.from({ length: int(r, 4) }, () => int(r, bytes.length + 1)))].sort((a, b) => a - b)
  let from = 0
  for (const to of [...cuts, bytes.length]) {
    if (s.destroyed) return
    if (to > from) s.write(bytes.subarray(from, to))
    from = to
    if (r() < 0.3) await new Promise((resolve) => setTimeout(resolve, int(r, 20)))
  }
  const end = r()
  if (end < 0.1) s.end()
  else if (end < 0.15) s.resetAndDestroy()
}

export interface ResponseFuzzOptions {
  /** Proxy port on 127.0.0.1. */
  readonly port: number
  /** Path prefix routed to the mutating backend. */
  readonly prefix: string
  readonly durationMs: number
  readonly seed: number
  readonly concurrency?: number
}

/** Sends plain GETs and HEADs through the proxy for `durationMs`; counts answers. Never throws for what the proxy does. */
export async function fuzzResponses (o: ResponseFuzzOptions): Promise<ResponseFuzzStats> {
  const s: ResponseFuzzStats = { requests: 0, statuses: {}, noAnswer: 0, internal: [] }
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency ?? 16 })
  const end = Date.now() + o.durationMs
  await Promise.all(Array.from({ length: o.concurrency ?? 16 }, async (_, lane) => {
    const r = prng((o.seed ^ Math.imul(lane + 1, 0x27d4eb2f)) >>> 0)
    while (Date.now() < end) {
      const method = r() < 0.15 ? 'HEAD' : 'GET'
      const path = `${o.prefix}${int(r, 1000)}`
      s.requests++
      // The backend may answer 500 itself: a fault of the proxy's own is its local reply, which names SWY_INTERNAL.
      const [status, internal] = await new Promise<[number, boolean]>((resolve) => {
        const req = httpRequest({ host: '127.0.0.1', port: o.port, method, path, agent, timeout: 5000 }, (res) => {
          let head = ''
          res.on('data', (d: Buffer) => { if (head.length < 200) head += d.toString('latin1') })
          const done = (): void => { resolve([res.statusCode ?? 0, res.statusCode === 500 && head.includes('SWY_INTERNAL')]) }
          res.on('end', done)
          res.on('error', done)
          res.on('close', done)
        })
        req.on('timeout', () => { req.destroy() })
        req.on('error', () => { resolve([0, false]) })
        req.end()
      })
      if (status === 0) s.noAnswer++
      else s.statuses[`${Math.floor(status / 100)}xx`] = (s.statuses[`${Math.floor(status / 100)}xx`] ?? 0) + 1
      if (internal) s.internal.push(`${method} ${path}`)
    }
  }))
  agent.destroy()
  return s
}
