// The access line: one JSON line per finished request, at info level, as pino would write it for
// `log.child({ kind: 'access' }).info({...})`, but built here from a template: pino's generic serialiser and a
// toISOString per line cost the 100 B bench several microseconds per request (issue 14).
import { pino, type Logger } from 'pino'
import type { Exchange } from '../pipeline/index.ts'

interface PinoInternals {
  /** The logger's destination: a LineBatch (logger.ts), whose `hold` lets access lines wait to share a write. */
  [pino.symbols.streamSym]: { write (line: string): unknown, hold?: (line: string) => void }
  /** The bound fields as pino serialised them: `,"role":"worker","worker":1,…`. */
  [pino.symbols.chindingsSym]: string
}

export function createAccessLog (log: Logger, clock: () => number): (ex: Exchange) => void {
  if (!log.isLevelEnabled('info')) return () => {}
  const internals = log as unknown as PinoInternals
  const stream = internals[pino.symbols.streamSym]
  const write = stream.hold === undefined ? (line: string): void => { stream.write(line) } : stream.hold.bind(stream)
  const head = `{"level":${log.levels.values.info!},"time":"`
  const bound = `"${internals[pino.symbols.chindingsSym]},"kind":"access","reqId":`
  // The time as pino's isoTime writes it, formatted once per millisecond rather than once per line.
  let lastMs = -1
  let lastTime = ''
  return function logAccess (ex) {
    const now = Date.now()
    if (now !== lastMs) { lastMs = now; lastTime = new Date(now).toISOString() }
    // Client-controlled text (path, request id) is escaped by JSON.stringify; numbers go as they are.
    let line = `${head}${lastTime}${bound}${JSON.stringify(ex.requestId)},"client":${JSON.stringify(ex.clientIp)},"method":${JSON.stringify(ex.method)},"host":${JSON.stringify(ex.host)},"path":${JSON.stringify(ex.path)}`
    if (ex.query !== '') line += `,"query":${JSON.stringify(ex.query)}`
    line += `,"status":${ex.aborted && ex.status === 0 ? 499 : ex.status},"bytes":${ex.bytesSent}`
    const body = ex.body
    line += `,"requestBytes":${headBytes(ex) + (body === null ? 0 : body.received)}`
    // The combined format's two request fields (nginx $http_user_agent, $http_referer), when the client sent them.
    const ua = ex.header('user-agent')
    if (ua !== undefined) line += `,"userAgent":${JSON.stringify(ua)}`
    const referer = ex.header('referer')
    if (referer !== undefined) line += `,"referer":${JSON.stringify(referer)}`
    if (ex.traceparent !== '') line += `,"traceparent":${JSON.stringify(ex.traceparent)}`
    const route = ex.route
    if (route !== null) line += `,"route":${JSON.stringify(route.id)}`
    const target = ex.target
    if (target !== null) line += `,"upstream":${JSON.stringify(target.url)}`
    line += `,"attempts":${ex.attempts}`
    if (ex.cacheStatus !== null) line += `,"cache":${JSON.stringify(ex.cacheStatus)}`
    if (ex.errorCode !== null) line += `,"code":"${ex.errorCode}"`
    if (ex.aborted) line += ',"aborted":true'
    if (ex.upstreamTtfb >= 0) line += `,"ttfbMs":${Math.round(ex.upstreamTtfb * 100) / 100}`
    const ws = ex.ws
    if (ws !== null) line += `,"ws":{"in":${ws.messagesIn},"bytesIn":${ws.bytesIn},"out":${ws.messagesOut},"bytesOut":${ws.bytesOut},"close":${ws.code}}`
    write(`${line},"ms":${Math.round((clock() - ex.startTime) * 100) / 100}}\n`)
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
