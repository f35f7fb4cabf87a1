// Child processes of a load run: spawned in their own process group, tracked, and always killed,
// at the end, on errors and on SIGINT/SIGTERM. Also the readiness probes (stdout line, HTTP 200).

import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { request } from 'node:http'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs'

/** A spawned child with the tail of its output, for error messages. */
export interface Child {
  readonly name: string
  readonly proc: ChildProcess
  readonly pid: number
  /** Last few KiB of stdout+stderr. */
  output (): string
  /** Resolves with the exit code (or signal name) once the leader has exited. */
  readonly exited: Promise<number | string>
}

const live = new Set<Child>()
const TAIL_BYTES = 8192

/** Prefixes `cmd args` with `taskset -c CPU` when a CPU is given; taskset execs, so the pid is the program's. */
export function pinned (cpu: number | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  return cpu === undefined ? [cmd, [...args]] : ['taskset', ['-c', String(cpu), cmd, ...args]]
}

/**
 * Spawns a tracked child. `detached` makes it a process-group leader, so stopping it also reaches
 * the processes it forks (Switchyard's workers, nginx's worker).
 */
export function spawnChild (name: string, cmd: string, args: readonly string[], cwd?: string, stdoutFile?: string): Child {
  // stdout to a file: a child logging a line per request would otherwise make this process read them all.
  const out = stdoutFile === undefined ? 'pipe' : openSync(stdoutFile, 'w')
  const proc = spawn(cmd, args, { detached: true, stdio: ['ignore', out, 'pipe'], ...(cwd === undefined ? {} : { cwd }) })
  if (typeof out === 'number') closeSync(out)
  if (proc.pid === undefined) throw new Error(`${name}: could not spawn ${cmd}`)
  let tail = ''
  const keep = (chunk: Buffer): void => {
    tail += chunk.toString('utf8')
    if (tail.length > TAIL_BYTES) tail = tail.slice(-TAIL_BYTES)
  }
  proc.stdout?.on('data', keep)
  proc.stderr?.on('data', keep)
  const exited = new Promise<number | string>((resolve) => {
    proc.once('error', (err) => { keep(Buffer.from(`spawn error: ${err.message}\n`)); resolve('error') })
    proc.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'))
  })
  const child: Child = { name, proc, pid: proc.pid, output: () => tail, exited }
  live.add(child)
  exited.then(() => live.delete(child), () => live.delete(child))
  return child
}

function killGroup (pid: number, signal: NodeJS.Signals): void {
  try { process.kill(-pid, signal) } catch { /* group already gone */ }
}

/** SIGTERM to the leader, wait up to `graceMs`, then SIGKILL whatever is left of its group. */
export async function stopChild (child: Child, graceMs = 10_000): Promise<void> {
  if (child.proc.exitCode === null && child.proc.signalCode === null) {
    try { process.kill(child.pid, 'SIGTERM') } catch { /* already gone */ }
    await Promise.race([child.exited, sleep(graceMs)])
  }
  killGroup(child.pid, 'SIGKILL')
  live.delete(child)
}

/** Stops every child still running. */
export async function stopAll (): Promise<void> {
  await Promise.all([...live].map((c) => stopChild(c, 3000)))
}

/** Kills every child's group at once (for `exit`, where nothing async runs), and stops on SIGINT/SIGTERM. */
export function installCleanup (onExit: () => void): void {
  process.once('exit', () => {
    for (const c of live) killGroup(c.pid, 'SIGKILL')
    onExit()
  })
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: stopping ${live.size} child process(es)\n`)
      stopAll().finally(() => process.exit(130))
    })
  }
}

/** Waits for a stdout line that parses as JSON and satisfies `match`; fails on exit or after `timeoutMs`. */
export async function waitForJsonLine<T> (child: Child, match: (v: unknown) => v is T, timeoutMs = 15_000): Promise<T> {
  const stdout = child.proc.stdout
  if (stdout === null) throw new Error(`${child.name}: no stdout`)
  let buf = ''
  const ac = new AbortController()
  const found = new Promise<T>((resolve) => {
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8')
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        let v: unknown
        try { v = JSON.parse(line) } catch { continue }
        if (match(v)) { stdout.off('data', onData); resolve(v); return }
      }
    }
    stdout.on('data', onData)
  })
  try {
    return await Promise.race([
      found,
      child.exited.then((c) => { throw new Error(`${child.name} exited (${c}) before it was ready:\n${child.output()}`) }),
      sleep(timeoutMs, undefined, { signal: ac.signal }).then(() => { throw new Error(`${child.name}: not ready after ${timeoutMs} ms:\n${child.output()}`) })
    ])
  } finally {
    ac.abort()
  }
}

/** One GET without keep-alive; resolves with the status, or 0 on any error. */
export function httpStatus (url: string, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume()
      res.once('end', () => resolve(res.statusCode ?? 0))
      res.once('error', () => resolve(0))
    })
    req.once('timeout', () => req.destroy())
    req.once('error', () => resolve(0))
    req.end()
  })
}

/** Polls `url` until it answers 200, with a bounded deadline; fails early if the child exits. */
export async function waitForHttp200 (child: Child, url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = 0
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
      throw new Error(`${child.name} exited (${child.proc.exitCode ?? child.proc.signalCode}) before it was ready:\n${child.output()}`)
    }
    last = await httpStatus(url)
    if (last === 200) return
    await sleep(100)
  }
  throw new Error(`${child.name}: ${url} did not answer 200 within ${timeoutMs} ms (last status ${last}):\n${child.output()}`)
}

/** A port that was free a moment ago on 127.0.0.1 (the child binds it right after). */
export async function freePort (): Promise<number> {
  const srv = createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const addr = srv.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  if (port === 0) throw new Error('could not find a free port')
  return port
}

/** Runs a command to completion with a bounded duration and returns its output. */
export async function runToEnd (name: string, cmd: string, args: readonly string[], timeoutMs: number): Promise<{ code: number | string, stdout: string, stderr: string }> {
  const proc = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  if (proc.pid === undefined) throw new Error(`${name}: could not spawn ${cmd}`)
  const pid = proc.pid
  let stdout = ''
  let stderr = ''
  proc.stdout?.on('data', (c: Buffer) => { stdout += c.toString('utf8') })
  proc.stderr?.on('data', (c: Buffer) => { stderr += c.toString('utf8') })
  const child: Child = {
    name,
    proc,
    pid,
    output: () => stdout + stderr,
    exited: new Promise((resolve) => {
      proc.once('error', (err) => { stderr += err.message; resolve('error') })
      proc.once('close', (code, signal) => resolve(code ?? signal ?? 'unknown'))
    })
  }
  live.add(child)
  const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), timeoutMs)
  try {
    const code = await child.exited
    return { code, stdout, stderr }
  } finally {
    clearTimeout(timer)
    live.delete(child)
  }
}

/**
 * What a result was measured with: Node's version and, per `[name, cmd, args]`, the first line the program prints for
 * its version, or 'not found' when it does not run.
 */
export async function versions (probes: ReadonlyArray<readonly [string, string, readonly string[]]>): Promise<Record<string, string>> {
  const probe = async ([name, cmd, args]: readonly [string, string, readonly string[]]): Promise<[string, string]> => {
    try {
      const r = await runToEnd(name, cmd, args, 5000)
      return [name, (r.stdout + r.stderr).split('\n')[0]?.trim() ?? '']
    } catch { return [name, 'not found'] }
  }
  return Object.fromEntries([['node', process.version], ...await Promise.all(probes.map(probe))])
}

/** CPU time (user and kernel, in seconds) used so far by every process in the group `pgid` (a child and its forks). */
export function groupCpu (pgid: number): { user: number, sys: number } {
  const hz = 100 // USER_HZ: clock ticks per second in /proc/*/stat on Linux
  let user = 0
  let sys = 0
  for (const name of readdirSync('/proc')) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue
    let stat: string
    try { stat = readFileSync(`/proc/${name}/stat`, 'latin1') } catch { continue }
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(f[2]) !== pgid) continue
    user += Number(f[11]) / hz
    sys += Number(f[12]) / hz
  }
  return { user, sys }
}
