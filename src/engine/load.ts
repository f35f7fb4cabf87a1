// Loads a uWebSockets.js native binding directly, so a package's pure-Node fallback can never serve traffic
// (docs/engines.md): that fallback has no TLS, no SO_REUSEPORT and a third of the throughput. Two builds are
// dependencies; the newest whose binary loads on this Node and libc wins.
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { Config, ConfigProblem } from '../config/index.ts'

export type UWS = typeof import('uWebSockets.js')

export class UwsUnavailableError extends Error {
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'UwsUnavailableError'
  }
}

/** One uWebSockets.js build Switchyard can run on. */
export interface EngineBuild {
  /** `20.57`: what logs and `--version` call it. */
  readonly version: string
  /** The npm package it comes from (as installed under node_modules). */
  readonly pkg: string
  /** Node ABIs (process.versions.modules) it ships binaries for, and those Node majors. */
  readonly abis: readonly string[]
  readonly nodes: string
  /** The oldest glibc its linux binaries load on. */
  readonly glibc: string
  /** The binary for this process, from the path the package's entry resolves to (its `exports` may hide the rest). */
  binary (entry: string, abi: string): string
}

/** Newest first. The binaries' glibc floors were read off `objdump -T` (GLIBC_2.38 / GLIBC_2.27 symbols). */
export const ENGINE_BUILDS: readonly EngineBuild[] = [
  {
    version: '20.57',
    pkg: '@btc-vision/uwebsockets.js',
    abis: ['115', '127', '137', '141'],
    nodes: 'Node 20, 22, 24 or 25',
    glibc: '2.38',
    // Binaries sit beside uws.js at the package root; `exports` blocks subpath requires, not absolute paths.
    binary: (entry, abi) => join(dirname(entry), `uws_${process.platform}_${process.arch}_${abi}.node`)
  },
  {
    version: '20.30',
    pkg: 'uWebSockets.js',
    abis: ['93', '108', '115'],
    nodes: 'Node 16, 18 or 20',
    glibc: '2.27',
    // src/uws.js → binaries/
    binary: (entry, abi) => join(dirname(entry), '..', 'binaries', `uws_${process.platform}_${process.arch}_${abi}.node`)
  }
]

/** The loaded binding and which build it is. */
export interface Engine {
  readonly uws: UWS
  readonly build: EngineBuild
  /** `node 24.11.1, uWebSockets.js 20.57`: for `--version` and the ready line. */
  readonly describe: string
}

/** The C library this process runs on: `glibc 2.36`, or what Node reports instead. */
export function libcName (): string {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header
  return header?.glibcVersionRuntime === undefined ? 'no glibc (musl?)' : `glibc ${header.glibcVersionRuntime}`
}

/** The environment variables the loader reads; the process entry passes process.env. */
export interface EngineEnv {
  readonly UWS_USE_FALLBACK?: string | undefined
}

/**
 * Loads the newest build whose binary loads here. Throws UwsUnavailableError listing, for each build, why it did
 * not load and which Node/glibc combinations it supports. `UWS_USE_FALLBACK` in `env` (the older package's switch to
 * its pure-Node fallback) is refused outright.
 */
export function loadEngine (env: EngineEnv, builds: readonly EngineBuild[] = ENGINE_BUILDS): Engine {
  const flag = env.UWS_USE_FALLBACK
  if (flag !== undefined && flag !== '' && flag !== '0') {
    throw new UwsUnavailableError('UWS_USE_FALLBACK is set: Switchyard refuses the slow pure-Node fallback of uWebSockets.js; unset it')
  }
  const req = createRequire(import.meta.url)
  const abi = process.versions.modules
  const tried: string[] = []
  for (const b of builds) {
    let uws: UWS
    try {
      uws = req(b.binary(req.resolve(b.pkg), abi)) as UWS
    } catch (err) {
      tried.push(`uWebSockets.js ${b.version} (${b.nodes} on glibc ≥ ${b.glibc}): ${firstLine(err)}`)
      continue
    }
    if (typeof uws.SSLApp !== 'function' || !('LIBUS_LISTEN_EXCLUSIVE_PORT' in uws)) {
      tried.push(`uWebSockets.js ${b.version}: the native binding is not active (pure-Node fallback detected)`)
      continue
    }
    // Drop the `uWebSockets: 20` response header (docs/engines.md).
    (uws as unknown as { _cfg (s: string): void })._cfg('silent')
    return { uws, build: b, describe: `node ${process.versions.node}, uWebSockets.js ${b.version}` }
  }
  throw new UwsUnavailableError(
    `no uWebSockets.js native binary loads on Node ${process.version} (${process.platform}-${process.arch}, ABI ${abi}, ${libcName()}). ` +
    `Switchyard runs on Node 20, 22, 24 or 25 with glibc ≥ 2.38 (Debian 13, Ubuntu 24.04, RHEL 10), or on Node 20 with glibc ≥ 2.27, ` +
    `and refuses the pure-Node fallback. Tried: ${tried.join('; ')}`)
}

/** The binding alone (tests, benches): the same builds, without the product's environment check. */
export function loadNativeUws (): UWS {
  return loadEngine({}).uws
}

function firstLine (err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!
}

/** The nine methods uWebSockets.js 20.30 routes; it closes the connection on any other before Switchyard sees it. */
const UWS_2030_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'])

/** What a config asks that the loaded build cannot do: each as a config warning (the config still loads). */
export function engineWarnings (config: Pick<Config, 'limits' | 'routes'>, engine: Pick<Engine, 'build'>): ConfigProblem[] {
  if (engine.build.version !== '20.30') return []
  const out: ConfigProblem[] = []
  const lists: Array<[string, readonly string[] | undefined]> = [['limits.methods', config.limits.methods], ...config.routes.map((r, i): [string, readonly string[] | undefined] => [`routes[${i}].limits.methods`, r.limits?.methods])]
  for (const [path, methods] of lists) {
    const other = (methods ?? []).filter((m) => !UWS_2030_METHODS.has(m))
    if (other.length > 0) out.push({ path, reason: `uWebSockets.js 20.30 closes the connection on ${other.join(', ')} before Switchyard sees it; run on uWebSockets.js 20.57 (Node 20-25 with glibc ≥ 2.38) to serve them` })
  }
  return out
}
