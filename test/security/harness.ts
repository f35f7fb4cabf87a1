// The security suite's instruments: a backend that parses HTTP/1.1 from raw TCP bytes and records exactly which
// requests (and which bodies) reached it, a raw client that writes exact bytes and reports what came back, and the
// proxy's vital signs from the admin API (worker pids, restarts, in-flight requests; shared with the fuzzer).
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { once } from 'node:events'
import type { TestContext } from 'node:test'

export { vitals, type Vitals } from '../../bench/fuzz/fuzz.ts'

type Ctx = Pick<TestContext, 'after'>

/** One request as the backend read it off the wire. */
export interface Received {
  readonly method: string
  readonly target: string
  /** Names lower-cased, in wire order, duplicates kept. */
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body: Buffer
  /** How the proxy framed the body: 'length', 'chunked' or 'none'. */
  readonly framing: 'length' | 'chunked' | 'none'
}

export interface RawBackend {
  readonly url: string
  /** Complete requests, in arrival order. */
  readonly requests: Received[]
  /** Requests whose head arrived but whose body was cut (connection closed first): method, target, bytes read. */
  readonly partial: Array<{ method: string, target: string, bytes: number }>
  /** Anything the backend could not parse as one well-framed HTTP/1.1 request: a proxy bug by definition. */
  readonly malformed: string[]
  /** Requests seen for one case: target equal to `prefix` or under `prefix/` (or `prefix?`). */
  forCase (prefix: string): Received[]
  partialForCase (prefix: string): Array<{ method: string, target: string, bytes: number }>
}

export interface RawBackendOptions {
  /** How long to hold a complete request before answering (default 0). */
  readonly delayMs?: (target: string) => number
}

const belongs = (target: string, prefix: string): boolean =>
  target === prefix || target.startsWith(`${prefix}/`) || target.startsWith(`${prefix}?`)

/**
 * A node:net backend with its own strict HTTP/1.1 request parser (the proxy's framing is what is under test, so no
 * lenient parser may paper over it). Answers each complete request `200 ok` with Content-Length, keep-alive.
 */
export async function startRawBackend (t: Ctx, o: RawBackendOptions = {}): Promise<RawBackend> {
  const requests: Received[] = []
  const partial: RawBackend['partial'] = []
  const malformed: string[] = []
  const sockets = new Set<Socket>()
  const server = createServer((c) => {
    sockets.add(c)
    let buf = Buffer.alloc(0)
    let pending: { method: string, target: string, bytes: number } | null = null
    let queue = Promise.resolve()
    c.on('error', () => {})
    c.on('close', () => {
      sockets.delete(c)
      if (pending !== null) partial.push(pending)
      else if (buf.length > 0) malformed.push(`unparsed at close: ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`)
    })
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      for (;;) {
        const r = parseOne(buf)
        if (r === 'incomplete') {
          const end = buf.indexOf('\r\n\r\n')
          if (end >= 0) {
            const [method = '', target = ''] = buf.subarray(0, buf.indexOf('\r\n')).toString('latin1').split(' ')
            pending = { method, target, bytes: buf.length - end - 4 }
          }
          return
        }
        if (typeof r === 'string') {
          malformed.push(r)
          buf = Buffer.alloc(0)
          pending = null
          c.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
          return
        }
        pending = null
        buf = buf.subarray(r.used)
        requests.push(r.req)
        const wait = o.delayMs?.(r.req.target) ?? 0
        queue = queue.then(async () => {
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
          if (!c.destroyed) c.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok')
        })
      }
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => { resolve() }))
  })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    partial,
    malformed,
    forCase: (prefix) => requests.filter((r) => belongs(r.target, prefix)),
    partialForCase: (prefix) => partial.filter((r) => belongs(r.target, prefix))
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

/** One request from the start of `buf`: strict RFC 9112 framing, no obs-fold, CRLF only. */
function parseOne (buf: Buffer): { req: Received, used: number } | 'incomplete' | string {
  const end = buf.indexOf('\r\n\r\n')
  if (end < 0) return buf.length > 1 << 20 ? 'head over 1 MiB' : 'incomplete'
  const head = buf.subarray(0, end).toString('latin1')
  if (/[\r\n]/.test(head.replace(/\r\n/g, ''))) return `bare CR or LF in head: ${JSON.stringify(head)}`
  const lines = head.split('\r\n')
  const m = /^([A-Z]+) (\S+) HTTP\/1\.1$/.exec(lines[0]!)
  if (m === null) return `bad request line: ${JSON.stringify(lines[0])}`
  const headers: Array<[string, string]> = []
  for (const l of lines.slice(1)) {
    const colon = l.indexOf(':')
    const name = l.slice(0, colon)
    if (colon <= 0 || !TOKEN.test(name)) return `bad header line: ${JSON.stringify(l)}`
    const value = l.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')
    if (!FIELD_VALUE.test(value)) return `bad header value: ${JSON.stringify(l)}`
    headers.push([name.toLowerCase(), value])
  }
  const cl = headers.filter(([n]) => n === 'content-length')
  const te = headers.filter(([n]) => n === 'transfer-encoding')
  if (cl.length > 1) return `${cl.length} Content-Length headers`
  if (cl.length > 0 && te.length > 0) return 'both Content-Length and Transfer-Encoding'
  if (te.length > 1 || (te.length === 1 && te[0]![1].toLowerCase() !== 'chunked')) return `Transfer-Encoding ${JSON.stringify(te)}`
  const base = { method: m[1]!, target: m[2]!, headers }
  let at = end + 4
  if (cl.length === 1) {
    if (!/^\d+$/.test(cl[0]![1])) return `bad Content-Length ${JSON.stringify(cl[0]![1])}`
    const n = Number(cl[0]![1])
    if (buf.length < at + n) return 'incomplete'
    return { req: { ...base, body: Buffer.from(buf.subarray(at, at + n)), framing: 'length' }, used: at + n }
  }
  if (te.length === 0) return { req: { ...base, body: Buffer.alloc(0), framing: 'none' }, used: at }
  const parts: Buffer[] = []
  for (;;) {
    const nl = buf.indexOf('\r\n', at)
    if (nl < 0) return 'incomplete'
    const line = buf.subarray(at, nl).toString('latin1')
    if (!/^[0-9a-fA-F]{1,15}$/.test(line)) return `bad chunk size line ${JSON.stringify(line)}`
    const size = parseInt(line, 16)
    if (size === 0) {
      // No trailers expected from the proxy: the last chunk is followed by the empty line.
      if (buf.length < nl + 4) return 'incomplete'
      if (buf.subarray(nl + 2, nl + 4).toString('latin1') !== '\r\n') return 'trailer section after the last chunk'
      return { req: { ...base, body: Buffer.concat(parts), framing: 'chunked' }, used: nl + 4 }
    }
    if (buf.length < nl + 2 + size + 2) return 'incomplete'
    parts.push(Buffer.from(buf.subarray(nl + 2, nl + 2 + size)))
    if (buf.subarray(nl + 2 + size, nl + 4 + size).toString('latin1') !== '\r\n') return 'chunk data not followed by CRLF'
    at = nl + 4 + size
  }
}

/** A step of a raw conversation: bytes to write, a pause in ms, or a wait (up to 5 s) for this many complete responses. */
export type Step = string | Buffer | number | { readonly responses: number }

export interface Observed {
  /** Status codes of the complete responses that came back, in order. */
  readonly statuses: number[]
  /** Every byte that came back. */
  readonly text: string
  /** The proxy ended the connection (FIN or reset) within the wait. */
  readonly closed: boolean
  /** It was a reset rather than a FIN (or the write failed). */
  readonly reset: boolean
  /** When the connection closed, ms from the first write; -1 if it did not. For diagnostics only, never asserted. */
  readonly closedAfterMs: number
}

/**
 * Opens a connection, plays `steps` (writes and pauses, stopping early if the proxy closes), then waits up to
 * `waitMs` more for the proxy to close. Ends early once `expectResponses` complete responses came and 300 ms
 * passed without more (a late smuggled answer would still show up in the backend's record).
 */
export async function converse (port: number, steps: readonly Step[], waitMs: number, expectResponses = Infinity): Promise<Observed> {
  const socket = connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  await once(socket, 'connect')
  const started = Date.now()
  let buf = Buffer.alloc(0)
  let closed = false
  let reset = false
  let closedAt = -1
  let wake: (() => void) | null = null
  const poke = (): void => { const w = wake; wake = null; w?.() }
  socket.on('data', (d: Buffer) => { buf = Buffer.concat([buf, d]); poke() })
  socket.on('error', () => { reset = true })
  socket.on('close', () => { closed = true; closedAt = Date.now() - started; poke() })
  socket.on('end', () => { socket.end() })
  const sleep = async (ms: number): Promise<void> => {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { wake = null; resolve() }, ms)
      wake = () => { clearTimeout(timer); resolve() }
    })
  }
  for (const s of steps) {
    if (closed) break
    if (typeof s === 'number') {
      const until = Date.now() + s
      while (!closed && Date.now() < until) await sleep(until - Date.now())
    } else if (typeof s === 'object' && !Buffer.isBuffer(s)) {
      const until = Date.now() + 5000
      while (!closed && responses(buf).length < s.responses && Date.now() < until) await sleep(until - Date.now())
    } else {
      socket.write(s)
    }
  }
  const deadline = Date.now() + waitMs
  let quietSince = -1
  while (!closed && Date.now() < deadline) {
    if (responses(buf).length >= expectResponses) {
      if (quietSince < 0) quietSince = Date.now()
      if (Date.now() - quietSince >= 300) break
      const before = buf.length
      await sleep(300)
      if (buf.length !== before) quietSince = -1
      continue
    }
    await sleep(deadline - Date.now())
  }
  socket.destroy()
  return { statuses: responses(buf, closed), text: buf.toString('latin1'), closed, reset, closedAfterMs: closedAt }
}

/**
 * Status codes of the complete responses in `buf`: bodies framed by Content-Length, as both proxy and backend send,
 * or, once the connection has `closed`, running to the close (RFC 9112 §6.3), as uWS 20.57's own 400/431/505 do.
 */
export function responses (buf: Buffer, closed = false): number[] {
  const out: number[] = []
  let at = 0
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at)
    if (end < 0) return out
    const head = buf.subarray(at, end).toString('latin1')
    const m = /^HTTP\/1\.1 (\d{3})/.exec(head)
    if (m === null) return out
    const cl = /\r\ncontent-length: *(\d+)/i.exec(head)
    const status = Number(m[1])
    const bodyless = status === 100 || status === 204 || status === 304
    const n = bodyless ? 0 : cl === null ? -1 : Number(cl[1])
    if (n < 0) {
      if (closed) out.push(status)
      return out
    }
    if (buf.length < end + 4 + n) return out
    if (status !== 100) out.push(status)
    at = end + 4 + n
  }
}

/** One plain GET on a fresh connection; resolves its status (or throws). */
export async function plainGet (port: number, path: string): Promise<number> {
  const r = await converse(port, [`GET ${path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`], 5000, 1)
  if (r.statuses.length !== 1) throw new Error(`no answer to a plain GET ${path}: ${JSON.stringify(r.text)}`)
  return r.statuses[0]!
}
