#!/usr/bin/env node
// The `switchyard` command: start, check, demo. Exit codes: 0 ok, 1 invalid config, 2 usage, 3 startup failure.
import { parseArgs } from 'node:util'
import { readFileSync, existsSync } from 'node:fs'
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { loadConfig, parseConfigText, ConfigError, type Config } from '../src/config/index.ts'
import { EXIT } from '../src/cluster/index.ts'
import { demoConfig, DEMO_BACKENDS } from '../src/demo/config.ts'
import { runPrimary } from './primary.ts'

const HELP = `switchyard: a clustered HTTP reverse proxy and load balancer

Usage:
  switchyard start [-c FILE] [--workers N]   run the proxy (FILE defaults to ./switchyard.yaml)
  switchyard check FILE                      validate a config; prints every problem with its key path
  switchyard demo [--port N]                 the built-in demo: the proxy on :8080 before three demo backends
  switchyard --help | --version

Exit codes: 0 ok, 1 invalid configuration, 2 usage error, 3 could not start
            (uWebSockets.js native binary unavailable, port in use, workers failing at start).`

function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

function usage (message: string): never {
  process.stderr.write(`switchyard: ${message}\n\n${HELP}\n`)
  process.exit(EXIT.USAGE)
}

/** Reads and validates FILE, applying command-line overrides before validation so errors name the key. */
function readConfig (file: string, overrides: Record<string, unknown>): Config {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError([{ path: '', reason: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }])
  }
  const raw = parseConfigText(text, file)
  const input = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? { ...raw, ...overrides } : raw
  return loadConfig(input, file)
}

function reportConfigError (err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`)
    process.exit(EXIT.CONFIG)
  }
  throw err
}

async function main (argv: string[]): Promise<void> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        workers: { type: 'string' },
        port: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' }
      }
    })
  } catch (err) {
    usage((err as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help === true) { process.stdout.write(`${HELP}\n`); return }
  if (values.version === true) { process.stdout.write(`${version()}\n`); return }
  const [command, ...rest] = positionals
  const overrides: Record<string, unknown> = {}
  if (values.workers !== undefined) overrides.workers = values.workers === 'auto' ? 'auto' : /^\d+$/.test(values.workers) ? Number(values.workers) : values.workers

  switch (command) {
    case 'check': {
      const file = rest[0] ?? values.config
      if (file === undefined) usage('check needs a FILE')
      try {
        readConfig(file, overrides)
      } catch (err) { reportConfigError(err) }
      process.stdout.write(`${file}: ok\n`)
      return
    }
    case 'start': {
      const file = values.config ?? rest[0] ?? 'switchyard.yaml'
      if (values.config === undefined && rest[0] === undefined && !existsSync(file)) usage('no config: pass -c FILE (or run `switchyard demo`)')
      let config: Config
      try {
        config = readConfig(file, overrides)
      } catch (err) { reportConfigError(err) }
      await runPrimary({ config, source: file })
      return
    }
    case 'demo': {
      const port = values.port === undefined ? 8080 : Number(values.port)
      let config: Config
      try {
        config = loadConfig({ ...demoConfig(port), ...overrides }, 'built-in demo config')
      } catch (err) { reportConfigError(err) }
      const backends = await startDemoBackends()
      await runPrimary({ config, source: 'built-in demo config', onStop: () => { for (const b of backends) b.kill('SIGTERM') } })
      return
    }
    case undefined:
      usage('no command')
      break
    default:
      usage(`unknown command: ${command}`)
  }
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
