// The access line: one JSON line per finished request, at info level, as pino would write it for
// `log.child({ kind: 'access' }).info({...})`, but built here from a template: pino's generic serialiser and a
// toISOString per line cost the 100 B bench several microseconds per request (issue 14).
import { pino, type Logger } from 'pino'
import type { Exchange, RouteRef, Target } from '../pipeline/index.ts'

interface PinoInternals {
  /** The logger's destination: a LineBatch (logger.ts), whose `hold` lets access lines wait to share a write. */
  [pino.symbols.streamSym]: { write (line: string): unknown, hold?: (line: string) => void }
  /** The bound fields as pino serialised them: `,"role":"worker","worker":1,…`. */
  [pino.symbols.chindingsSym]: string
}

/**
 * The access log of a worker: a function taking each finished exchange and the clock's reading when it finished (the
 * `clock` its start time was read from, so that one reading serves the metrics and the line).
 */
export function createAccessLog (log: Logger): (ex: Exchange, end: number) => void {
  if (!log.isLevelEnabled('info')) return () => {}
  const internals = log as unknown as PinoInternals
  const stream = internals[pino.symbols.streamSym]
  const write = stream.hold === undefined ? (line: string): void => { stream.write(line) } : stream.hold.bind(stream)
  const head = `{"level":${log.levels.values.info!},"time":"`
  const bound = `"${internals[pino.symbols.chindingsSym]},"kind":"access","reqId":"`
  const time = createIsoClock()
  // Everything before the request id, the time included, made once per millisecond: about 110 characters that would
  // otherwise be joined into every line (at 20k lines a second, ~20 lines share one).
  let lastMs = Number.NaN
  let prefix = ''
  // Runs of fields that mostly repeat from one line to the next, each one flat piece made again only when one of its
  // values differs from the line before: who asked (client, method, host: one connection's requests share them), how
  // it went (protocol, status) and where it went (route, server, attempts). A line is a rope of strings that the
  // write flattens at ~9 ns a piece (bench/micro/rope-flatten.bench.ts); each run is one piece instead of four to
  // eight, and its client text is escaped once per change.
  const who = repeated((ip: string, method: string, host: string) =>
    `","client":${jsonString(ip)},"method":${jsonString(method)},"host":${jsonString(host)},"path":"`)
  const how = repeated((protocol: string, status: number, aborted: boolean) =>
    `,"proto":${jsonString(protocol)},"status":${aborted && status === 0 ? 499 : status},"bytes":`)
  const where = repeated((route: RouteRef | null, target: Target | null, attempts: number) =>
    `${route === null ? '' : `,"route":${jsonString(route.id)}`}${target === null ? '' : `,"upstream":${jsonString(target.url)}`},"attempts":${attempts}`)
  return function logAccess (ex, end) {
    const ms = Date.now()
    if (ms !== lastMs) { lastMs = ms; prefix = flat(`${head}${time(ms)}${bound}`) }
    // Strings the client sent are escaped as JSON.stringify would; numbers go as they are. The request id needs no
    // escaping: it is ours (request-id.ts) or the client's only if it matched the guard's SAFE_ID (letters, digits, ._:@+=-).
    const asked = who(ex.clientIp, ex.method, ex.host)
    const path = ex.path
    // The path's opening quote ends the run.
    let line = `${prefix}${ex.requestId}${quoted(asked, path)}`
    const query = ex.query
    if (query !== '') line += quoted(',"query":"', query)
    const body = ex.body
    line += `${how(ex.protocol, ex.status, ex.aborted)}${ex.bytesSent},"requestBytes":${headBytes(ex) + (body === null ? 0 : body.received)}`
    // The combined format's two request fields (nginx $http_user_agent, $http_referer), when the client sent them.
    const ua = ex.header('user-agent')
    if (ua !== undefined) line += quoted(',"userAgent":"', ua)
    const referer = ex.header('referer')
    if (referer !== undefined) line += quoted(',"referer":"', referer)
    const tp = ex.traceparent
    // 55 characters: version 00's fixed format, hex and dashes only (traceparent.ts validated or made it).
    if (tp !== '') line += tp.length === TRACEPARENT_00 ? `,"traceparent":"${tp}"` : quoted(',"traceparent":"', tp)
    line += where(ex.route, ex.target, ex.attempts)
    if (ex.cacheStatus !== null) line += `,"cache":${jsonString(ex.cacheStatus)}`
    if (ex.errorCode !== null) line += `,"code":"${ex.errorCode}"`
    if (ex.aborted) line += ',"aborted":true'
    if (ex.upstreamTtfb >= 0) line += `,"ttfbMs":${hundredths(ex.upstreamTtfb)}`
    const ws = ex.ws
    if (ws !== null) line += `,"ws":{"in":${ws.messagesIn},"bytesIn":${ws.bytesIn},"out":${ws.messagesOut},"bytesOut":${ws.bytesOut},"close":${ws.code}}`
    write(`${line},"ms":${hundredths(end - ex.startTime)}}\n`)
  }
}

/**
 * A piece of the line made from three values, kept flat, and made again only when one of them differs from the call
 * before (the first call makes it).
 */
function repeated<A, B, C> (make: (a: A, b: B, c: C) => string): (a: A, b: B, c: C) => string {
  let lastA: A | typeof UNSET = UNSET
  let lastB: B | typeof UNSET = UNSET
  let lastC: C | typeof UNSET = UNSET
  let piece = ''
  return (a, b, c) => {
    if (a !== lastA || b !== lastB || c !== lastC) {
      lastA = a
      lastB = b
      lastC = c
      piece = flat(make(a, b, c))
    }
    return piece
  }
}

/** What no value is. */
const UNSET = Symbol('unset')

/**
 * `before` (ending in a value's opening quote) and then `s` as the rest of a JSON string: `s` and its closing quote
 * when nothing needs escaping (two pieces after `before`, as a template would make), else JSON.stringify's quoting.
 */
function quoted (before: string, s: string): string {
  return NEEDS_ESCAPE.test(s) ? `${before}${JSON.stringify(s).slice(1)}` : `${before}${s}"`
}

/** Matches any string. */
const ANY = /(?:)/

/**
 * `s` made one flat string in place, not a rope: V8 flattens a regular expression's subject (a call with effects,
 * which the optimising compiler keeps). Done once here, it spares every line that includes `s` its pieces.
 */
function flat (s: string): string {
  ANY.test(s)
  return s
}

/** Length of a version-00 traceparent: `00-` 32 hex `-` 16 hex `-` 2 hex. */
const TRACEPARENT_00 = 55

/** What JSON.stringify escapes in a string: `"`, `\\`, control characters and (lone) surrogates. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

/**
 * `JSON.stringify(s)` for a string, in a third of the time when nothing needs escaping, as in nearly every path, host
 * and request id (bench/micro/json-string.bench.ts: ~50 against ~97 ns per field on Node 20 and 24).
 */
export function jsonString (s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`
}

/** ".01" … ".99" as JavaScript prints the fraction of a number rounded to hundredths ("" for 0, ".1" for 10). */
const FRACTIONS = Array.from({ length: 100 }, (_, i) => i === 0 ? '' : i % 10 === 0 ? `.${i / 10}` : `.${String(i).padStart(2, '0')}`)

/**
 * `x` (≥ 0) rounded to hundredths, printed as `String(Math.round(x * 100) / 100)` prints it, without the
 * float-to-shortest-string conversion that was a tenth of the access line's cost (two per line).
 */
export function hundredths (x: number): string {
  const n = Math.round(x * 100)
  if (!(n >= 0 && n <= Number.MAX_SAFE_INTEGER)) return String(Math.round(x * 100) / 100)
  const whole = Math.floor(n / 100)
  return `${whole}${FRACTIONS[n - whole * 100]!}`
}

/** Three-digit milliseconds, "000" … "999". */
const MILLIS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'))

/**
 * The time as pino's isoTime writes it (`new Date(ms).toISOString()`, quotes excluded), with the part up to the
 * second formatted once per second: toISOString once per millisecond was most of the time field's cost.
 */
export function createIsoClock (): (ms: number) => string {
  let second = Number.NaN
  let prefix = ''
  return (ms) => {
    const s = Math.floor(ms / 1000)
    if (s !== second) {
      second = s
      prefix = new Date(s * 1000).toISOString().slice(0, -4) // "YYYY-MM-DDTHH:MM:SS."
    }
    return `${prefix}${MILLIS[ms - s * 1000]!}Z`
  }
}

/**
 * The request head's size as it came (nginx's $request_length less the body): request line, field lines and the
 * blank line. Counted in characters, which are bytes for the ASCII a head is made of.
 */
function headBytes (ex: Exchange): number {
  // "GET " + target + " HTTP/1.1\r\n" … "\r\n"
  let n = ex.method.length + 1 + ex.path.length + (ex.query === '' ? 0 : 1 + ex.query.length) + 11 + 2
  const h = ex.headers
  for (let i = 0; i < h.length; i += 2) n += h[i]!.length + 2 + h[i + 1]!.length + 2
  return n
}
