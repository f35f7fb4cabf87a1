#!/usr/bin/env node
// The `switchyard` command: start, check, demo. Exit codes: 0 ok, 1 invalid config, 2 usage, 3 startup failure.
import { parseArgs } from 'node:util'
import { readFileSync, existsSync } from 'node:fs'
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { loadConfig, loadConfigFile, parseDuration, ConfigError, type Config, type ConfigProblem } from '../src/config/index.ts'
import { EXIT } from '../src/cluster/index.ts'
import { demoConfig, DEMO_BACKENDS } from '../src/demo/index.ts'
import { runPrimary } from './primary.ts'
import { connectHost, requestReload, keepRegistered } from '../src/admin/index.ts'
import { loadEngine, engineWarnings, UwsUnavailableError } from '../src/engine/index.ts'

const HELP = `switchyard: a clustered HTTP reverse proxy and load balancer

Usage:
  switchyard start [-c FILE] [--workers N]   run the proxy (FILE defaults to ./switchyard.yaml)
  switchyard check FILE... [--workers N]     validate config files; prints every problem with its key path
  switchyard reload [-c FILE] [--admin URL] [--token T]
                                             zero-downtime reload of a running proxy: it re-reads its own
                                             config file and swaps in a new generation of workers; FILE
                                             (checked first) gives the admin address and token
  switchyard register --service NAME --url URL [--ttl 10s] [-c FILE] [--admin URL] [--token T]
                                             keep URL registered as a member of service NAME (for
                                             upstreams with discover: NAME) with a heartbeat every ttl/3,
                                             until stopped (SIGTERM/SIGINT deregisters it at once)
  switchyard demo [--port N] [--workers N]   the built-in demo: the proxy on :8080 in front of
                                             three demo backends on :9001-9003 (one worker by default)
  switchyard --help | --version

Options:
  -c, --config FILE   config file, YAML or JSON
  --workers N         worker processes, a number or auto (one per core); overrides the config
  --port N            demo only: the proxy's port
  --admin URL         reload, register: the admin API (default from FILE, else http://127.0.0.1:9090)
  --token T           reload, register: the admin bearer token (default from FILE, or $SWITCHYARD_ADMIN_TOKEN)
  --service NAME      register: the service
  --url URL           register: the member's origin, e.g. http://10.0.0.7:9001
  --ttl DURATION      register: how long the registration lives without a heartbeat (default 10s)
  -h, --help          print this help
  -v, --version       print the version

Exit codes: 0 ok, 1 invalid configuration, 2 usage error, 3 could not start
            (uWebSockets.js native binary unavailable, port in use, workers failing at start;
            reload: the proxy could not be reached or its new generation failed to start).`

function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/** `0.1.0 (node 24.11.1, uWebSockets.js 20.57)`; exit 3 with the reason when no engine build loads here. */
function printVersion (): void {
  try {
    process.stdout.write(`${version()} (${loadEngine(process.env).describe})\n`)
  } catch (err) {
    if (!(err instanceof UwsUnavailableError)) throw err
    process.stdout.write(`${version()} (node ${process.versions.node}, no uWebSockets.js build loads here)\n`)
    process.stderr.write(`switchyard: ${err.message}\n`)
    process.exit(EXIT.STARTUP)
  }
}

function usage (message: string): never {
  process.stderr.write(`switchyard: ${message}\n\n${HELP}\n`)
  process.exit(EXIT.USAGE)
}

function reportConfigError (err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`)
    process.exit(EXIT.CONFIG)
  }
  throw err
}

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  workers: { type: 'string' },
  port: { type: 'string' },
  admin: { type: 'string' },
  token: { type: 'string' },
  service: { type: 'string' },
  url: { type: 'string' },
  ttl: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' }
} as const

/** The command line, or a usage error (exit 2). */
function parseCommandLine (argv: string[]): ReturnType<typeof parseArgs<{ args: string[], allowPositionals: true, options: typeof OPTIONS }>> {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options: OPTIONS })
  } catch (err) {
    usage((err as Error).message)
  }
}

async function main (argv: string[]): Promise<void> {
  const parsed = parseCommandLine(argv)
  const { values, positionals } = parsed
  if (values.help === true) { process.stdout.write(`${HELP}\n`); return }
  if (values.version === true) { printVersion(); return }
  const [command, ...rest] = positionals
  // --workers goes through the schema like the file's key, so `--workers 0` is refused as `workers: ...`.
  const overrides: Record<string, unknown> = {}
  if (values.workers !== undefined) overrides.workers = /^\d+$/.test(values.workers) ? Number(values.workers) : values.workers
  if (values.port !== undefined && command !== 'demo') usage('--port is only for demo (set listen in the config file)')

  switch (command) {
    case 'check': {
      if (values.config !== undefined) rest.unshift(values.config)
      if (rest.length === 0) usage('check needs a FILE')
      let failed = false
      for (const file of rest) {
        try {
          const config = loadConfigFile(file, { overrides, onWarning: printWarning(file) })
          for (const w of engineWarningsHere(config)) printWarning(file)(w)
          process.stdout.write(`${file}: ok\n`)
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err
          process.stderr.write(`${err.message}\n`)
          failed = true
        }
      }
      if (failed) process.exit(EXIT.CONFIG)
      return
    }
    case 'start': {
      if (rest.length > (values.config === undefined ? 1 : 0)) usage('start takes one config file')
      const file = values.config ?? rest[0] ?? 'switchyard.yaml'
      if (values.config === undefined && rest[0] === undefined && !existsSync(file)) usage('no config: pass -c FILE (or run `switchyard demo`)')
      let config: Config
      const warnings: ConfigProblem[] = []
      try {
        config = loadConfigFile(file, { overrides, onWarning: (w) => { warnings.push(w) } })
      } catch (err) { reportConfigError(err) }
      await runPrimary({ config, source: file, warnings, reread: (onWarning) => loadConfigFile(file, { overrides, ...(onWarning === undefined ? {} : { onWarning }) }) })
      return
    }
    case 'demo': {
      if (rest.length > 0 || values.config !== undefined) usage('demo takes no config file')
      const port = values.port === undefined ? 8080 : /^\d+$/.test(values.port) ? Number(values.port) : usage('--port must be a number')
      let config: Config
      try {
        config = loadConfig({ ...demoConfig(port), ...overrides }, 'built-in demo config')
      } catch (err) { reportConfigError(err) }
      const backends = await startDemoBackends()
      const reread = (): Config => loadConfig({ ...demoConfig(port), ...overrides }, 'built-in demo config')
      await runPrimary({ config, source: 'built-in demo config', reread, onStop: () => { for (const b of backends) b.kill('SIGTERM') } })
      return
    }
    case 'reload':
    case 'register':
      await adminCommand(command, values, rest, overrides)
      break
    case undefined:
      usage('no command')
      break
    default:
      usage(`unknown command: ${command}`)
  }
}

/** What the uWebSockets.js build that loads here cannot do of `config` (none when no build loads: start says why). */
function engineWarningsHere (config: Config): ConfigProblem[] {
  try {
    return engineWarnings(config, loadEngine(process.env))
  } catch {
    return []
  }
}

/** The options `reload` and `register` read. */
interface AdminArgs {
  readonly config?: string | undefined
  readonly admin?: string | undefined
  readonly token?: string | undefined
  readonly service?: string | undefined
  readonly url?: string | undefined
  readonly ttl?: string | undefined
}

/** `reload` and `register`: they talk to a running proxy's admin API, found from FILE or --admin. */
async function adminCommand (command: 'reload' | 'register', values: AdminArgs, rest: string[], overrides: Record<string, unknown>): Promise<void> {
  if (rest.length > (values.config === undefined ? 1 : 0)) usage(`${command} takes one config file`)
  const file = values.config ?? rest[0] ?? (existsSync('switchyard.yaml') ? 'switchyard.yaml' : undefined)
  let admin: Config['admin'] | undefined
  if (file !== undefined) {
    // The proxy re-reads the file itself; checking it here first prints the same key-path problems sooner.
    try { admin = loadConfigFile(file, { overrides, onWarning: printWarning(file) }).admin } catch (err) { reportConfigError(err) }
  }
  const url = values.admin ?? (admin === undefined ? 'http://127.0.0.1:9090' : `http://${connectHost(admin.host)}:${admin.port}`)
  const token = values.token ?? admin?.token ?? process.env.SWITCHYARD_ADMIN_TOKEN
  if (command === 'reload') process.exit(await requestReload(url, token))
  if (values.service === undefined || values.url === undefined) usage('register needs --service NAME and --url URL')
  const ttl = parseDuration(values.ttl ?? '10s')
  if (ttl === undefined || ttl < 1000) usage('--ttl must be a duration of at least 1s, e.g. 10s')
  await keepRegistered({ admin: url, token, service: values.service, member: values.url, ttlMs: ttl })
}

/** Prints a config warning (the file loads anyway) to stderr, in the format of its errors. */
function printWarning (file: string): (w: ConfigProblem) => void {
  return (w) => { process.stderr.write(`${file}: warning: config: ${w.path}: ${w.reason}\n`) }
}

async function startDemoBackends (): Promise<ChildProcess[]> {
  const entry = fileURLToPath(new URL('./demo-backend.js', import.meta.url))
  const children = DEMO_BACKENDS.map((b) => fork(entry, [b.name, String(b.port)], { stdio: 'inherit' }))
  try {
    await Promise.all(children.map(async (c) => {
      const [m] = await Promise.race([once(c, 'message'), once(c, 'exit').then(() => { throw new Error('a demo backend could not start (ports 9001-9003 in use?)') })]) as unknown[]
      return m
    }))
  } catch (err) {
    for (const c of children) c.kill('SIGTERM')
    process.stderr.write(`switchyard: ${(err as Error).message}\n`)
    process.exit(EXIT.STARTUP)
  }
  return children
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`switchyard: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(EXIT.STARTUP)
})
