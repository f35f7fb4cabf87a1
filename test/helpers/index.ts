// Test helpers: real backends, real Switchyard processes, free ports. Each handle closes itself in t.after.
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { TestContext } from 'node:test'

type Ctx = Pick<TestContext, 'after'>

export const CLI = fileURLToPath(new URL('../../workers/cli.js', import.meta.url))

export async function freePort (host = '127.0.0.1'): Promise<number> {
  const s = createNetServer()
  s.listen(0, host)
  await once(s, 'listening')
  const { port } = s.address() as AddressInfo
  s.close()
  await once(s, 'close')
  return port
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
}

/**
 * Starts `switchyard start -c FILE` with `config` (listen defaults to one free port on 127.0.0.1,
 * workers to 1, log level to info). Resolves once the primary logs `event: ready`.
 */
export async function startProxy (t: Ctx, config: Record<string, unknown>, o: ProxyOptions = {}): Promise<ProxyHandle> {
  const port = await freePort()
  const full = { listen: [{ host: '127.0.0.1', port }], workers: 1, ...config, log: { level: 'info', ...(config.log as object | undefined) } }
  const dir = mkdtempSync(join(tmpdir(), 'swy-test-'))
  const file = join(dir, 'config.json')
  writeFileSync(file, JSON.stringify(full, null, 2))
  const child = spawn(process.execPath, [CLI, 'start', '-c', file, ...(o.args ?? [])], { stdio: ['ignore', 'pipe', 'pipe'] })
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
        try { logs.push(JSON.parse(line) as Record<string, unknown>) } catch { logs.push({ raw: line }) }
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
export async function waitFor<T> (fn: () => T | Promise<T>, what: string, timeoutMs = 10_000, everyMs = 50): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v as NonNullable<T>
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/** Resident set size of a process in bytes (Linux). */
export function rssOf (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1]) * 1024
}

/** Runs a CLI command to completion; resolves code, stdout and stderr. */
export async function runCli (args: readonly string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  return { code, stdout, stderr }
}
