// A config refused: every problem with its exact key path, e.g. `routes[2].upstream: names no upstream "x"`.
import { SwitchyardError } from '../errors/index.ts'

export interface ConfigProblem { readonly path: string, readonly reason: string }

export class ConfigError extends SwitchyardError {
  readonly problems: readonly ConfigProblem[]
  /** Path of the first problem ('' for the file as a whole). */
  readonly path: string
  /** Reason of the first problem. */
  readonly reason: string

  /** `source` names where the config came from (a file name); it heads the message. */
  constructor (problems: readonly ConfigProblem[], source?: string) {
    const lines = problems.map((p) => `config: ${p.path === '' ? '(root)' : p.path}: ${p.reason}`)
    super('SWY_CONFIG_INVALID', (source !== undefined ? `${source}: invalid configuration\n` : '') + lines.join('\n'))
    this.name = 'ConfigError'
    this.problems = problems
    this.path = problems[0]?.path ?? ''
    this.reason = problems[0]?.reason ?? ''
  }
}

/** `['routes', 2, 'upstreams', 0, 'url']` → `routes[2].upstreams[0].url`; odd keys are quoted: `upstreams["a b"]`. */
export function formatPath (path: readonly PropertyKey[]): string {
  let out = ''
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`
    else if (typeof p === 'string' && /^[A-Za-z0-9_-]+$/.test(p)) out += out === '' ? p : `.${p}`
    else out += `[${JSON.stringify(String(p))}]`
  }
  return out
}
