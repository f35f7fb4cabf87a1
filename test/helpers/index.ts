// Test helpers: real backends, real Switchyard processes, free ports. Each handle closes itself in t.after.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse, type Server } from 'node:http'
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { TestContext } from 'node:test'

type Ctx = Pick<TestContext, 'after'>

export const CLI = fileURLToPath(new URL('../../workers/cli.js', import.meta.url))

/**
 * Free ports for the processes a test starts, which bind them later (a proxy, Redis). Two things can take such a port
 * between the check and that bind, and both made CI fail ("cannot listen on 127.0.0.1:36431"):
 * - the kernel: a port it hands out for listen(0) or for an outgoing connection's local end comes from
 *   net.ipv4.ip_local_port_range, and the suite makes thousands of connections. So ports come from below that range.
 * - another test file (two run at once): each port is claimed with a file created exclusively in a directory all
 *   test processes share, and released when this process exits. A claim left by a process that crashed is skipped,
 *   never taken over (two takers could both win).
 */
const claimDir = join(tmpdir(), 'switchyard-test-ports')
mkdirSync(claimDir, { recursive: true })
const claimed: string[] = []
process.on('exit', () => { for (const f of claimed) rmSync(f, { force: true }) })

function ephemeralLow (): number {
  try { return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768 } catch { return 32768 }
}
const FIRST = 10000
const LAST = Math.max(FIRST + 2000, ephemeralLow() - 1)

function claim (port: number): boolean {
  const file = join(claimDir, String(port))
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' })
  } catch {
    return false
  }
  claimed.push(file)
  return true
}

async function bindable (port: number, host: string): Promise<boolean> {
  const s = createNetServer()
  const ok = await new Promise<boolean>(resolve => {
    s.once('error', () => resolve(false))
    s.listen(port, host, () => resolve(true))
  })
  if (ok) {
    s.close()
    await once(s, 'close')
  }
  return ok
}

export async function freePort (host = '127.0.0.1'): Promise<number> {
  for (let tries = 0; tries < 1000; tries++) {
    const port = FIRST + Math.floor(Math.random() * (LAST - FIRST + 1))
    if (!claim(port)) continue
    if (await bindable(port, host)) return port
  }
  throw new Error(`freePort: no free port in ${FIRST}-${LAST} after 1000 tries`)
}

/**
 * SWITCHYARD_TEST_ENGINE=node or uws runs a test file's proxies on that engine wherever the file does not choose
 * (listen entries without `engine`, `http2` or `h2c`): .ci/run runs the security suite on both (README "Engines").
 * node: plain listeners get engine: node; uws: TLS listeners get http2: false (uWS's own TLS).
 */
export function onTestEngine (listen: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  const engine = process.env.SWITCHYARD_TEST_ENGINE
  if (engine !== 'node' && engine !== 'uws') return listen
  return listen.map((l) => {
    if (l.engine !== undefined || l.http2 !== undefined || l.h2c !== undefined) return l
    if (engine === 'node') return l.tls === undefined ? { ...l, engine: 'node' } : l
    return l.tls === undefined ? l : { ...l, http2: false }
  })
}

export interface BackendHandle {
  readonly url: string
  readonly port: number
  readonly server: Server
  close (): Promise<void>
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** A node:http backend on 127.0.0.1 and a free port. */
export async function startBackend (t: Ctx, handler: Handler, port = 0): Promise<BackendHandle> {
  const server = createServer(handler)
  server.keepAliveTimeout = 65_000
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  const p = (server.address() as AddressInfo).port
  let closed = false
  const h: BackendHandle = {
    url: `http://127.0.0.1:${p}`,
    port: p,
    server,
    async close () {
      if (closed) return
      closed = true
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
  t.after(() => h.close())
  return h
}

/** A backend that answers its name and echoes what it received, as JSON. */
export function echo (name = 'backend'): Handler {
  return (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString() }))
    })
  }
}

export interface ProxyHandle {
  readonly url: string
  readonly port: number
  readonly process: ChildProcess
  /** Every stdout line so far, parsed where it is JSON. */
  readonly logs: Array<Record<string, unknown>>
  readonly stderr: () => string
  /** The admin API (a free port unless the config sets admin.port). */
  readonly adminUrl: string
  /** The config file the proxy was started with. */
  readonly file: string
  /** Replaces the config file (same defaults as at start; a string is written as is) for a reload. */
  rewrite (next: Record<string, unknown> | string): void
  /** PIDs of the primary's live worker processes. */
  workerPids (): number[]
  /** SIGTERM and wait for exit; resolves the exit code. */
  close (): Promise<number | null>
}

export interface ProxyOptions {
  /** Extra CLI arguments, e.g. ['--workers', '2']. */
  readonly args?: readonly string[]
  /** Wait for the ready line (default true). */
  readonly waitReady?: boolean
  /** The CLI to run (default: this build's dist/workers/cli.js). */
  readonly cli?: string
  /** Node flags for the primary, which passes them on to its workers (e.g. ['--trace-gc-nvp']). */
  readonly nodeArgs?: readonly string[]
}

/**
 * One stdout line as log records. A process started with a V8 trace flag (--trace-gc-nvp) also prints through libc's
 * buffer, whose flushes can end mid-line, so a JSON line may arrive behind the start of a trace line: the JSON part is
 * still a record, and the rest is kept as `raw`.
 */
function parseLine (line: string): Array<Record<string, unknown>> {
  try { return [JSON.parse(line) as Record<string, unknown>] } catch {}
  const at = line.indexOf('{"level":')
  if (at > 0) {
    try { return [{ raw: line.slice(0, at) }, JSON.parse(line.slice(at)) as Record<string, unknown>] } catch {}
  }
  return [{ raw: line }]
}

/**
 * Starts `switchyard start -c FILE` with `config` (listen defaults to one free port on 127.0.0.1,
 * workers to 1, log level to info). Resolves once the primary logs `event: ready`.
 */
export async function startProxy (t: Ctx, config: Record<string, unknown>, o: ProxyOptions = {}): Promise<ProxyHandle> {
  const port = await freePort()
  const adminPort = await freePort()
  const withDefaults = (c: Record<string, unknown>): Record<string, unknown> => ({
    workers: 1,
    ...c,
    listen: onTestEngine((c.listen as Array<Record<string, unknown>> | undefined) ?? [{ host: '127.0.0.1', port }]),
    log: { level: 'info', ...(c.log as object | undefined) },
    // Never the default 9090: tests run many proxies, and the machine may run its own.
    admin: { port: adminPort, ...(c.admin as object | undefined) }
  })
  const full = withDefaults(config)
  const dir = mkdtempSync(join(tmpdir(), 'swy-test-'))
  const file = join(dir, 'config.json')
  writeFileSync(file, JSON.stringify(full, null, 2))
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), o.cli ?? CLI, 'start', '-c', file, ...(o.args ?? [])], { stdio: ['ignore', 'pipe', 'pipe'] })
  const logs: Array<Record<string, unknown>> = []
  let stderr = ''
  let buf = ''
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        logs.push(...parseLine(line))
        if (logs.at(-1)?.event === 'ready') resolve()
      }
    })
    child.once('exit', (code) => { reject(new Error(`switchyard exited with ${String(code)} before ready:\n${stderr}\n${JSON.stringify(logs)}`)) })
  })
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  let exited: Promise<number | null> | null = null
  const h: ProxyHandle = {
    url: `http://127.0.0.1:${port}`,
    port: (full.listen as Array<{ port: number }>)[0]!.port,
    adminUrl: `http://127.0.0.1:${(full.admin as { port: number }).port}`,
    file,
    rewrite (next) { writeFileSync(file, typeof next === 'string' ? next : JSON.stringify(withDefaults(next), null, 2)) },
    process: child,
    logs,
    stderr: () => stderr,
    workerPids () {
      try {
        return readFileSync(`/proc/${child.pid!}/task/${child.pid!}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
      } catch { return [] }
    },
    async close () {
      exited ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
        child.kill('SIGTERM')
        const kill = setTimeout(() => child.kill('SIGKILL'), 15_000)
        const [code] = await once(child, 'exit') as [number | null]
        clearTimeout(kill)
        rmSync(dir, { recursive: true, force: true })
        return code
      })()
      return await exited
    }
  }
  t.after(() => h.close())
  if (o.waitReady !== false) {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    try { await ready } finally { clearTimeout(timer) }
  } else {
    ready.catch(() => {})
  }
  return h
}

/** Polls `fn` until it returns a truthy value or the deadline passes (then throws with `what`). */
export async function waitFor<T> (fn: () => T | Promise<T>, what: string, timeoutMs = 10_000, everyMs = 50): Promise<Exclude<T, false | 0 | '' | null | undefined>> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v as Exclude<T, false | 0 | '' | null | undefined>
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/** Resident set size of a process in bytes (Linux). */
export function rssOf (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1]) * 1024
}

export interface CliOptions {
  /** Added to this process's environment. */
  readonly env?: Record<string, string>
  /** SIGKILL after this long (code null, signal SIGKILL) so a command that should have exited can't hang the suite. */
  readonly timeoutMs?: number
}

/** Runs a CLI command to completion; resolves code, stdout and stderr. */
export async function runCli (args: readonly string[], o: CliOptions = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, o.timeoutMs ?? 30_000)
  child.once('exit', () => { clearTimeout(timer) })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  // 'close', not 'exit': the child can exit before its stdout and stderr have been read to the end (under load the
  // last 'data' came after 'exit', and check's refusal arrived as an empty stderr).
  const [code] = await once(child, 'close') as [number | null]
  return { code, stdout, stderr }
}

export interface HttpResult {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

export interface RequestOptions {
  readonly method?: string
  readonly headers?: Record<string, string>
  readonly body?: string
  /** Source address of the connection, e.g. `127.0.0.7` (all of 127/8 is loopback). */
  readonly localAddress?: string
}

/**
 * One request on a fresh connection (node:http, no agent, `Connection: close`), so each request may land on
 * another worker. Unlike fetch it may set Host. Rejects on a connection error or a truncated body.
 */
export async function request (url: string, o: RequestOptions = {}): Promise<HttpResult> {
  return await new Promise<HttpResult>((resolve, reject) => {
    const req = httpRequest(url, { method: o.method ?? 'GET', headers: o.headers, agent: false, ...(o.localAddress === undefined ? {} : { localAddress: o.localAddress }) }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        if (!res.complete) { reject(new Error('truncated response')); return }
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() })
      })
    })
    req.on('error', reject)
    req.end(o.body)
  })
}

export interface RawResponse {
  readonly status: number
  /** In wire order, names lower-cased. */
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body: Buffer
  /** The socket, still open unless the server closed it; the caller destroys it. */
  readonly socket: Socket
}

/** Values of header `name` (lower-case) in a raw response. */
export function headerValues (r: RawResponse, name: string): string[] {
  return r.headers.filter(([n]) => n === name).map(([, v]) => v)
}

/**
 * Writes `data` as-is on a new node:net connection to 127.0.0.1:`port` and reads one response (Content-Length,
 * chunked, or until close). For what fetch would normalise or forbid: Connection, duplicate Content-Length.
 */
export async function rawRequest (port: number, data: string | Buffer, timeoutMs = 5000): Promise<RawResponse> {
  const socket = connect(port, '127.0.0.1')
  socket.write(data)
  let buf = Buffer.alloc(0)
  let ended = false
  const parsed = (): RawResponse | undefined => {
    const end = buf.indexOf('\r\n\r\n')
    if (end < 0) return undefined
    const lines = buf.subarray(0, end).toString('latin1').split('\r\n')
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1])
    const headers = lines.slice(1).map((l): [string, string] => {
      const colon = l.indexOf(':')
      return [l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim()]
    })
    const rest = buf.subarray(end + 4)
    const cl = headers.find(([n]) => n === 'content-length')
    if (cl !== undefined) {
      const n = Number(cl[1])
      return rest.length >= n ? { status, headers, body: rest.subarray(0, n), socket } : undefined
    }
    if (headers.some(([n, v]) => n === 'transfer-encoding' && v.toLowerCase() === 'chunked')) {
      const body: Buffer[] = []
      let at = 0
      for (;;) {
        const nl = rest.indexOf('\r\n', at)
        if (nl < 0) return undefined
        const size = parseInt(rest.subarray(at, nl).toString('latin1'), 16)
        if (rest.length < nl + 2 + size + 2) return undefined
        if (size === 0) return { status, headers, body: Buffer.concat(body), socket }
        body.push(rest.subarray(nl + 2, nl + 2 + size))
        at = nl + 2 + size + 2
      }
    }
    return ended ? { status, headers, body: rest, socket } : undefined
  }
  return await new Promise<RawResponse>((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no complete response within ${timeoutMs} ms; got ${JSON.stringify(buf.toString('latin1'))}`)) }, timeoutMs)
    const check = (): void => {
      const r = parsed()
      if (r !== undefined) { clearTimeout(timer); resolve(r); return }
      if (ended) { clearTimeout(timer); reject(new Error(`connection closed without a complete response; got ${JSON.stringify(buf.toString('latin1'))}`)) }
    }
    socket.on('data', (d: Buffer) => { buf = Buffer.concat([buf, d]); check() })
    socket.on('end', () => { ended = true; check() })
    socket.on('error', (err) => { clearTimeout(timer); reject(err) })
  })
}

/** Resolves true once `socket` is closed by the peer, false if it is still open after `timeoutMs`. */
export async function closedWithin (socket: Socket, timeoutMs: number): Promise<boolean> {
  if (socket.readableEnded || socket.destroyed) return true
  return await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => { resolve(false) }, timeoutMs)
    const done = (): void => { clearTimeout(timer); resolve(true) }
    socket.once('end', done)
    socket.once('close', done)
    socket.resume()
  })
}

/** True while process `pid` exists and is not a zombie (Linux /proc). */
export function isAlive (pid: number): boolean {
  let stat: string
  try { stat = readFileSync(`/proc/${pid}/stat`, 'utf8') } catch { return false }
  // The state follows the parenthesised command name, which may itself contain spaces or parentheses.
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
}

/** Writes `config` as a config file (with startProxy's defaults: one free port, 1 worker); removed in t.after. */
export async function writeConfig (t: Ctx, config: Record<string, unknown>): Promise<{ file: string, port: number }> {
  const port = await freePort()
  const full = { workers: 1, ...config, listen: onTestEngine((config.listen as Array<Record<string, unknown>> | undefined) ?? [{ host: '127.0.0.1', port }]) }
  const dir = mkdtempSync(join(tmpdir(), 'swy-test-'))
  const file = join(dir, 'config.json')
  writeFileSync(file, JSON.stringify(full, null, 2))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  return { file, port: (full.listen as Array<{ port: number }>)[0]!.port }
}

/** Writes `data` on a new connection and reads everything until the server closes it; `closed` false on timeout. */
export async function rawUntilClose (port: number, data: string | Buffer, timeoutMs = 5000): Promise<{ text: string, closed: boolean }> {
  const socket = connect(port, '127.0.0.1')
  socket.write(data)
  let text = ''
  socket.on('data', (d: Buffer) => { text += d.toString('latin1') })
  socket.on('error', () => {})
  const closed = await closedWithin(socket, timeoutMs)
  socket.destroy()
  return { text, closed }
}

export interface LoadResult {
  /** 2xx answers. */
  ok: number
  /** 429 answers. */
  limited: number
  /** Anything else, including connection errors. */
  failed: number
  /** From the first request's start to the last answer (ms). */
  elapsedMs: number
}

/**
 * `concurrency` request loops per URL, each sending the next request as soon as the last is answered, until `ms`
 * have passed (bounded: no loop starts a request after the deadline).
 */
export async function drive (urls: readonly string[], concurrency: number, ms: number, headers: Record<string, string> = {}): Promise<LoadResult> {
  const r: LoadResult = { ok: 0, limited: 0, failed: 0, elapsedMs: 0 }
  const start = Date.now()
  const end = start + ms
  const loop = async (url: string): Promise<void> => {
    while (Date.now() < end) {
      try {
        const res = await fetch(url, { headers })
        await res.arrayBuffer()
        if (res.status >= 200 && res.status < 300) r.ok++
        else if (res.status === 429) r.limited++
        else r.failed++
      } catch {
        r.failed++
      }
    }
  }
  await Promise.all(urls.flatMap((u) => Array.from({ length: concurrency }, async () => { await loop(u) })))
  r.elapsedMs = Date.now() - start
  return r
}
