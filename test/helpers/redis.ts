// Real redis-server processes for tests: one server on a free port (stoppable and restartable on the same port for
// fault injection), or a 3-master Redis Cluster. Never the system Redis. Each handle closes itself in t.after.
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { connect } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { promisify } from 'node:util'
import { freePort, waitFor } from './index.ts'

/** A test context, or anything else that runs `fn` at the end (a suite's after hook). */
type Ctx = { after (fn: () => Promise<void>): unknown }
const run = promisify(execFile)

export interface RedisHandle {
  readonly url: string
  readonly port: number
  /** Kills the server (SIGKILL: as abrupt as a crash) and waits for it to exit. */
  stop (): Promise<void>
  /** Starts it again on the same port and waits until it answers PING. */
  start (): Promise<void>
  /** Freezes the server (SIGSTOP): connections stay open and commands hang, as with an overloaded Redis. */
  pause (): void
  /** Thaws a paused server (SIGCONT). */
  resume (): void
  close (): Promise<void>
}

/** Resolves true if a server on `port` answers PING with +PONG. */
async function pings (port: number): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1')
    const done = (ok: boolean): void => { s.destroy(); resolve(ok) }
    s.setTimeout(500, () => { done(false) })
    s.on('error', () => { done(false) })
    s.on('connect', () => { s.write('PING\r\n') })
    s.on('data', (d: Buffer) => { done(d.toString().startsWith('+PONG')) })
  })
}

async function spawnServer (port: number, dir: string, extra: readonly string[] = []): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
  try {
    await waitFor(async () => child.exitCode === null ? await pings(port) : Promise.reject(new Error(`redis-server exited: ${out}`)), `redis-server on ${port}`, 5000, 20)
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
  return child
}

async function kill (child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}

/** A redis-server on 127.0.0.1 and a free port, without persistence. */
export async function startRedis (t: Ctx): Promise<RedisHandle> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'swy-redis-'))
  let child: ChildProcess | undefined = await spawnServer(port, dir)
  let closed = false
  const h: RedisHandle = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop () { await kill(child); child = undefined },
    async start () { if (child === undefined) child = await spawnServer(port, dir) },
    pause () { child?.kill('SIGSTOP') },
    resume () { child?.kill('SIGCONT') },
    async close () {
      if (closed) return
      closed = true
      child?.kill('SIGCONT')
      await kill(child)
      rmSync(dir, { recursive: true, force: true })
    }
  }
  t.after(() => h.close())
  return h
}

export interface RedisClusterHandle {
  readonly nodes: ReadonlyArray<{ host: string, port: number }>
  close (): Promise<void>
}

/** Three cluster-enabled masters (no replicas) joined with `redis-cli --cluster create`, ready once all say ok. */
export async function startRedisCluster (t: Ctx): Promise<RedisClusterHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'swy-rcluster-'))
  const children: ChildProcess[] = []
  let closed = false
  const h: RedisClusterHandle = {
    nodes: [],
    async close () {
      if (closed) return
      closed = true
      await Promise.all(children.map(kill))
      rmSync(dir, { recursive: true, force: true })
    }
  }
  t.after(() => h.close())
  const nodes: Array<{ host: string, port: number }> = []
  for (let i = 0; i < 3; i++) {
    const port = await freePort()
    // The bus port defaults to port + 10000, which may be taken or past 65535; pick a free one.
    const bus = await freePort()
    children.push(await spawnServer(port, dir, [
      '--cluster-enabled', 'yes', '--cluster-port', String(bus), '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'
    ]))
    nodes.push({ host: '127.0.0.1', port })
  }
  await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `${n.host}:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 20_000 })
  await waitFor(async () => {
    const infos = await Promise.all(nodes.map(async (n) => (await run('redis-cli', ['-p', String(n.port), 'cluster', 'info'])).stdout))
    return infos.every((s) => s.includes('cluster_state:ok'))
  }, 'redis cluster_state:ok on every node', 15_000, 100)
  ;(h.nodes as Array<{ host: string, port: number }>).push(...nodes)
  return h
}
