// The things a load run measures: the bench backend itself, Switchyard, and nginx / HAProxy as
// reference proxies in front of the same backend. Configs are generated into a temp dir at runtime.

import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { freePort, pinned, spawnChild, stopChild, waitForHttp200, waitForJsonLine, type Child } from './children.ts'

/** A started target: where to send load, and how to stop it. */
export interface RunningTarget {
  readonly url: string
  /** Process group whose CPU time is the target's (its processes and their forks); undefined when none of its own. */
  readonly pgid?: number
  stop (): Promise<void>
}

/** What every proxy target needs to start. */
export interface TargetEnv {
  /** Repo root (holds dist/). */
  readonly root: string
  readonly tmpDir: string
  /**
   * Where the log row's access log goes: a tmpfs (/dev/shm) when there is one. On this machine's shared disk the
   * page cache's writeback made the log row swing 12k–20k req/s between rounds while the plain row held 21.6k–22.2k:
   * the disk, not the proxy. nginx's access_log on the same disk would pay the same.
   */
  readonly logDir: string
  readonly backendPort: number
  /** The backend's process group, for the CPU time of the `direct` row. */
  readonly backendPgid?: number
  /** CPU to pin the proxy to with taskset (`--pin`); undefined = not pinned. */
  readonly cpu: number | undefined
}

/** One row of the comparison: a name, whether it can run here, and how to start it. */
export interface TargetSpec {
  readonly id: string
  readonly label: string
  /** Why it cannot run on this machine, or undefined when it can. */
  unavailable (env: TargetEnv): string | undefined
  start (env: TargetEnv): Promise<RunningTarget>
}

const READY_MS = 15_000

export function onPath (bin: string): boolean {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])
  return dirs.some((d) => d !== '' && existsSync(join(d, bin)))
}

/**
 * The backend of `npm run bench:wrk` and `npm run bench`: nginx serving the bodies as static files (sendfile and
 * tcp_nopush off, files on tmpfs when /dev/shm exists) when nginx is installed, else a bare uWS app. Either is faster
 * than every proxy measured in front of it, so the proxies, not the backend, are what a run compares.
 */
export async function startFastBackend (root: string, tmpDir: string, cpu: number | undefined, kind: 'nginx' | 'uws' = onPath('nginx') ? 'nginx' : 'uws'): Promise<RunningTarget & { port: number, kind: string }> {
  if (kind === 'uws') {
    const [cmd, args] = pinned(cpu, process.execPath, [join(root, 'dist/bench/servers/uws-backend.js'), '--port', '0', '--host', '127.0.0.1'])
    const child = spawnChild('backend', cmd, args)
    try {
      const line = await waitForJsonLine(child, (v): v is { event: 'listening', port: number } =>
        typeof v === 'object' && v !== null && (v as { event?: unknown }).event === 'listening', READY_MS)
      return { port: line.port, url: `http://127.0.0.1:${line.port}`, pgid: child.pid, kind: 'bare uWS app (bench/servers/uws-backend.ts)', stop: stopper(child) }
    } catch (err) {
      await stopChild(child)
      throw err
    }
  }
  // The files on a tmpfs when there is one, in a folder of their own that stop() removes (under tmpDir, the run's).
  const own = existsSync('/dev/shm') ? await mkdtemp(join('/dev/shm', 'switchyard-bench-')) : null
  const dir = join(own ?? tmpDir, 'backend')
  await mkdir(join(dir, 'www'), { recursive: true })
  await writeFile(join(dir, 'www/100b'), Buffer.alloc(100, 'x'))
  await writeFile(join(dir, 'www/64k'), Buffer.alloc(65_536, 'y'))
  const port = await freePort()
  await writeFile(join(dir, 'nginx.conf'), `${nginxPreamble(dir, 'bench/load/targets.ts: the fast static backend')}
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  sendfile off;
  tcp_nopush off;
  open_file_cache max=16;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port} reuseport backlog=1024;
    root ${dir}/www;
    # Uploads are read and dropped.
    location = /upload { client_max_body_size 0; return 200 '{"ok":true}'; }
  }
}
`)
  const [cmd, args] = pinned(cpu, 'nginx', ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')])
  const child = spawnChild('backend', cmd, args)
  const url = `http://127.0.0.1:${port}`
  try {
    await waitForHttp200(child, `${url}/100b`, READY_MS)
  } catch (err) {
    await stopChild(child)
    await rm(own ?? dir, { recursive: true, force: true })
    throw err
  }
  return {
    port,
    url,
    pgid: child.pid,
    kind: 'nginx serving static files (sendfile off)',
    stop: async () => { await stopChild(child); await rm(own ?? dir, { recursive: true, force: true }) }
  }
}

function stopper (child: Child): () => Promise<void> {
  return () => stopChild(child)
}

/** Starts the bench backend as a child process (optionally pinned) and waits for its `listening` line. */
export async function startBackendChild (root: string, cpu: number | undefined): Promise<RunningTarget & { port: number }> {
  const [cmd, args] = pinned(cpu, process.execPath, [join(root, 'dist/bench/servers/backend.js'), '--port', '0', '--host', '127.0.0.1'])
  const child = spawnChild('backend', cmd, args)
  try {
    const line = await waitForJsonLine(child, (v): v is { event: 'listening', port: number } =>
      typeof v === 'object' && v !== null && (v as { event?: unknown }).event === 'listening' &&
      typeof (v as { port?: unknown }).port === 'number', READY_MS)
    return { port: line.port, url: `http://127.0.0.1:${line.port}`, stop: stopper(child) }
  } catch (err) {
    await stopChild(child)
    throw err
  }
}

async function startProxy (name: string, child: Child, url: string): Promise<RunningTarget> {
  try {
    await waitForHttp200(child, `${url}/100b`, READY_MS)
    return { url, pgid: child.pid, stop: stopper(child) }
  } catch (err) {
    await stopChild(child)
    throw err
  }
}

/** The backend with no proxy in front: the baseline every ratio divides by. */
export const direct: TargetSpec = {
  id: 'direct',
  label: 'direct',
  unavailable: () => undefined,
  start: async (env) => ({ url: `http://127.0.0.1:${env.backendPort}`, ...(env.backendPgid === undefined ? {} : { pgid: env.backendPgid }), stop: async () => {} })
}

function switchyardYaml (port: number, backendPort: number, access: boolean, metrics: boolean, engine: 'uws' | 'node'): string {
  return [
    `listen: [{ host: 127.0.0.1, port: ${port}, engine: ${engine} }]`,
    'workers: 1',
    // Metrics on (the default) or off: the pair the metrics cost is measured with.
    `metrics: { enabled: ${String(metrics)} }`,
    // warn keeps every per-request line out; with the access log, info lets the access line through.
    access ? 'log: { level: info, access: true }' : 'log: { level: warn }',
    // Not needed for a load run, and its default port may be taken.
    'admin: { enabled: false }',
    'upstreams:',
    '  bench:',
    `    servers: [{ url: http://127.0.0.1:${backendPort} }]`,
    'routes:',
    '  - match: { path: / }',
    '    upstream: bench',
    ''
  ].join('\n')
}

/**
 * Another build or other Node flags measured in the same run as the checkout's build (`--variant`), so that a change
 * is judged by a ratio within one run: `root` holds that build's dist/ and node_modules (a git worktree, built, with
 * node_modules installed or linked), `nodeFlags` go before the CLI.
 */
export interface Variant {
  readonly name: string
  readonly root?: string
  readonly nodeFlags?: readonly string[]
}

/** `NAME=[ROOT][,FLAG...]`, e.g. `old=/tmp/wt` or `semi=,--min-semi-space-size=32`. */
export function parseVariant (text: string): Variant {
  const m = /^([A-Za-z0-9_.-]+)=(.*)$/.exec(text)
  if (m === null) throw new Error(`--variant: expected NAME=[ROOT][,NODE-FLAG...], got '${text}'`)
  const [root = '', ...flags] = m[2]!.split(',')
  if (root === '' && flags.length === 0) throw new Error(`--variant ${m[1]!}: names neither a build nor a Node flag`)
  return { name: m[1]!, ...(root === '' ? {} : { root: resolve(root) }), ...(flags.length === 0 ? {} : { nodeFlags: flags }) }
}

/**
 * Switchyard started through its CLI with `--workers N` (a count or `auto`), logging at warn; with `access`, at info
 * with the access log on (one JSON line per request to stdout, which the bench reads and drops). `metrics: false` turns
 * metrics off (metrics.enabled), the baseline of their cost.
 */
export function switchyard (workers: string, access = false, metrics = true, engine: 'uws' | 'node' = 'uws', variant?: Variant): TargetSpec {
  const id = `switchyard-${engine === 'node' ? 'node-' : ''}${workers}${access ? '-log' : ''}${metrics ? '' : '-nometrics'}${variant === undefined ? '' : `@${variant.name}`}`
  const root = (env: TargetEnv): string => variant?.root ?? env.root
  return {
    id,
    label: `${workers === 'auto' ? 'switchyard (auto workers)' : `switchyard (${workers} worker${workers === '1' ? '' : 's'})`}${engine === 'node' ? ', node engine' : ''}${access ? ' + access log' : ''}${metrics ? '' : ', metrics off'}${variant === undefined ? '' : ` [${variant.name}]`}`,
    unavailable: (env) => existsSync(join(root(env), 'dist/workers/cli.js')) ? undefined : `${join(root(env), 'dist/workers/cli.js')} is not built`,
    async start (env) {
      const port = await freePort()
      const cfg = join(env.tmpDir, `${id}.yaml`)
      await writeFile(cfg, switchyardYaml(port, env.backendPort, access, metrics, engine))
      // Node flags given to the primary reach the workers too (cluster forks with the primary's execArgv).
      const [cmd, args] = pinned(env.cpu, process.execPath,
        [...(variant?.nodeFlags ?? []), join(root(env), 'dist/workers/cli.js'), 'start', '-c', cfg, '--workers', workers])
      return await startProxy(id, spawnChild(id, cmd, args, env.root, access ? join(env.logDir, `${id}.log`) : undefined), `http://127.0.0.1:${port}`)
    }
  }
}

/**
 * The start of every nginx config the benches write, up to the inside of its http block: one worker process, its
 * pid, error log and temp files under `dir`, no access log.
 */
export function nginxPreamble (dir: string, by: string, workerConnections = 8192): string {
  return `# generated by ${by}
daemon off;
master_process on;
worker_processes 1;
${process.getuid?.() === 0 ? 'user root;' : ''}
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections ${workerConnections}; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;`
}

/**
 * An nginx config for load runs: one worker, no access log, temp paths under `dir`, keep-alive both ways, and
 * `location` as the only part that differs between benches (`http` adds lines to the http block, e.g. a cache path;
 * `listen` adds parameters to the listen line, e.g. `ssl http2`; `server` adds lines to the server block).
 */
export function nginxConf (o: { dir: string, port: number, backendPort: number, by: string, http?: string, listen?: string, server?: string, location: string }): string {
  return `${nginxPreamble(o.dir, o.by)}
  keepalive_requests 1000000;
  keepalive_timeout 60s;
${o.http ?? ''}  upstream bench {
    server 127.0.0.1:${o.backendPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${o.port}${o.listen === undefined ? '' : ` ${o.listen}`} reuseport backlog=1024;
${o.server ?? ''}    location / {
      proxy_pass http://bench;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
${o.location}    }
  }
}
`
}

export const PROXY_LOCATION = `      # Stream request bodies like Switchyard does; keep responses in memory (64 KiB fits), never on disk.
      proxy_request_buffering off;
      proxy_buffer_size 16k;
      proxy_buffers 8 16k;
      proxy_max_temp_file_size 0;
`

/** nginx, `worker_processes 1`, keep-alive to the upstream, access log off. */
export const nginx: TargetSpec = {
  id: 'nginx-1',
  label: 'nginx (1 worker)',
  unavailable: () => onPath('nginx') ? undefined : 'nginx not installed',
  async start (env) {
    const port = await freePort()
    const dir = join(env.tmpDir, 'nginx')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'nginx.conf'), nginxConf({ dir, port, backendPort: env.backendPort, by: 'bench/load/targets.ts', http: '  client_max_body_size 0;\n', location: PROXY_LOCATION }))
    const [cmd, args] = pinned(env.cpu, 'nginx', ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')])
    return await startProxy('nginx', spawnChild('nginx', cmd, args), `http://127.0.0.1:${port}`)
  }
}

function haproxyCfg (port: number, backendPort: number): string {
  return `# generated by bench/load/targets.ts; no log lines, so HAProxy logs nothing
global
  nbthread 1
  # HAProxy raises its FD limit to ~2×maxconn; 4096 stays under a default 20000 hard limit.
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server s1 127.0.0.1:${backendPort}
`
}

/** HAProxy, `nbthread 1`, server-side keep-alive with `http-reuse always`, no logging. */
export const haproxy: TargetSpec = {
  id: 'haproxy-1',
  label: 'HAProxy (1 thread)',
  unavailable: () => onPath('haproxy') ? undefined : 'haproxy not installed',
  async start (env) {
    const port = await freePort()
    const cfg = join(env.tmpDir, 'haproxy.cfg')
    await writeFile(cfg, haproxyCfg(port, env.backendPort))
    const [cmd, args] = pinned(env.cpu, 'haproxy', ['-db', '-f', cfg])
    return await startProxy('haproxy', spawnChild('haproxy', cmd, args), `http://127.0.0.1:${port}`)
  }
}
