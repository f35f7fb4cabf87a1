// Reads, validates and freezes configuration. Nothing after loadConfig() re-validates or reads process.env.
import { readFileSync } from 'node:fs'
import { parseDocument } from 'yaml'
import type { z } from 'zod'
import { configSchema, type Config } from './schema.ts'
import { ConfigError, formatPath, type ConfigProblem } from './config-error.ts'

/** Validates a parsed config object; throws ConfigError listing every problem. */
export function loadConfig (input: unknown, source?: string): Config {
  const r = configSchema.safeParse(input, { error: describeIssue })
  if (!r.success) throw new ConfigError(toProblems(r.error.issues), source)
  return deepFreeze(r.data)
}

/** Reads a YAML or JSON file and validates it. */
export function loadConfigFile (file: string): Config {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError([{ path: '', reason: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }])
  }
  return loadConfig(parseConfigText(text, file), file)
}

/** YAML (a superset of JSON) to a plain object; syntax errors become ConfigErrors with line and column. */
export function parseConfigText (text: string, file = 'config'): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true })
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => ({
      path: '',
      reason: `${file}:${e.linePos?.[0]?.line ?? '?'}:${e.linePos?.[0]?.col ?? '?'}: ${e.message.split('\n')[0] ?? e.code}`
    })))
  }
  return doc.toJS() ?? {}
}

function toProblems (issues: readonly z.core.$ZodIssue[]): ConfigProblem[] {
  const out: ConfigProblem[] = []
  for (const i of issues) {
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) out.push({ path: formatPath([...i.path, k]), reason: 'unknown key' })
    } else if (i.code === 'invalid_union' && i.errors.length > 0 && i.message.startsWith('Invalid input')) {
      out.push({ path: formatPath(i.path), reason: 'has the wrong type' })
    } else {
      out.push({ path: formatPath(i.path), reason: i.message })
    }
  }
  return out
}

function describeIssue (iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      return iss.input === undefined ? 'is required' : `must be ${article(iss.expected)} (got ${kindOf(iss.input)})`
    case 'too_small':
      return iss.origin === 'array' ? `must have at least ${String(iss.minimum)} item(s)` : `must be at least ${String(iss.minimum)}`
    case 'too_big':
      return iss.origin === 'array' ? `must have at most ${String(iss.maximum)} item(s)` : `must be at most ${String(iss.maximum)}`
    case 'invalid_value':
      return `must be one of ${iss.values.map((v) => String(v)).join(', ')}`
    case 'invalid_format':
      return `must match ${iss.format}`
    default:
      return undefined
  }
}

function article (t: string): string {
  if (t === 'int') return 'a whole number'
  if (t === 'array') return 'a list'
  if (t === 'object' || t === 'record') return 'a mapping'
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`
}

function kindOf (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a mapping'
  return typeof v
}

function deepFreeze<T> (o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o)
    for (const v of Object.values(o)) deepFreeze(v)
  }
  return o
}
