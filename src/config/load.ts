// Reads, validates and freezes configuration. Nothing after loadConfig() re-validates or reads process.env.
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { LineCounter, parseDocument, isMap, isScalar, isSeq } from 'yaml'
import { validateConfig, type Config } from './schema.ts'
import { ConfigError, formatPath, type ConfigProblem } from './config-error.ts'
import { checkTlsFiles } from './tls-files.ts'

export interface LoadOptions {
  /** Where relative TLS file paths start (default: the working directory; loadConfigFile: the file's directory). */
  readonly baseDir?: string
  /** Told about what loads but deserves attention (an expired certificate, `verify: false`), with its key path. */
  readonly onWarning?: (w: ConfigProblem) => void
}

/**
 * Validates a parsed config object and the files it names (certificates, keys, CAs); throws ConfigError listing
 * every problem.
 */
export function loadConfig (input: unknown, source?: string, o: LoadOptions = {}): Config {
  const r = validateConfig(input)
  if (!r.ok) throw new ConfigError(r.problems, source)
  const files = checkTlsFiles(r.config, o.baseDir ?? process.cwd())
  if (files.problems.length > 0) throw new ConfigError(files.problems, source)
  if (o.onWarning !== undefined) for (const w of files.warnings) o.onWarning(w)
  return deepFreeze(r.config)
}

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory'
}

export interface LoadFileOptions {
  /** Top-level keys that replace the file's before validation (command-line flags), so errors still name the key. */
  readonly overrides?: Readonly<Record<string, unknown>>
  readonly onWarning?: LoadOptions['onWarning']
}

/** Reads a YAML or JSON file and validates it. */
export function loadConfigFile (file: string, o: LoadFileOptions = {}): Config {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err)
    throw new ConfigError([{ path: '', reason: `cannot read the file: ${READ_ERRORS[code] ?? code}` }], file)
  }
  const raw = parseConfigText(text, file)
  const input = o.overrides !== undefined && typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? { ...raw, ...o.overrides } : raw
  return loadConfig(input, file, { baseDir: dirname(resolve(file)), ...(o.onWarning === undefined ? {} : { onWarning: o.onWarning }) })
}

/**
 * YAML (a superset of JSON) to a plain value. Syntax errors name line:column; a key given twice is
 * refused with its key path (YAML would silently keep the last one).
 */
export function parseConfigText (text: string, file = 'config'): unknown {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false })
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => ({ path: '', reason: `syntax error at ${at(lines, e.pos[0])}: ${e.message.split('\n')[0] ?? e.code}` })), file)
  }
  if (doc.contents === null) throw new ConfigError([{ path: '', reason: 'the file is empty' }], file)
  const dups = duplicateKeys(doc.contents, lines, [], [])
  if (dups.length > 0) throw new ConfigError(dups, file)
  return doc.toJS()
}

function at (lines: LineCounter, offset: number): string {
  const p = lines.linePos(offset)
  return `${p.line}:${p.col}`
}

function duplicateKeys (node: unknown, lines: LineCounter, path: PropertyKey[], out: ConfigProblem[]): ConfigProblem[] {
  if (isMap(node)) {
    const first = new Map<string, number>()
    for (const pair of node.items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key)
      const line = isScalar(pair.key) && pair.key.range !== undefined && pair.key.range !== null ? lines.linePos(pair.key.range[0]).line : 0
      const prev = first.get(k)
      if (prev !== undefined) out.push({ path: formatPath([...path, k]), reason: prev === line ? `is given twice (line ${line})` : `is given twice (lines ${prev} and ${line})` })
      else first.set(k, line)
      duplicateKeys(pair.value, lines, [...path, k], out)
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => { duplicateKeys(item, lines, [...path, i], out) })
  }
  return out
}

function deepFreeze<T> (o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o)
    for (const v of Object.values(o)) deepFreeze(v)
  }
  return o
}
