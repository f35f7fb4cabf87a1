// The ceiling for bench/load/cache.ts: a bare uWebSockets.js app that answers every request with the 1 KiB object
// and the same response fields a Switchyard cache hit sends, from constants, in one cork. No proxy can serve a hit on
// this uWS build faster than this. Run as `node dist/bench/servers/uws-bare.js --port P`; prints one JSON line.
import { parseArgs } from 'node:util'
import { loadNativeUws } from '../../src/listener/index.ts'

const BODY = Buffer.alloc(1024, 'c')
const HEADERS = ['content-type', 'application/octet-stream', 'cache-control', 'max-age=3600', 'etag', '"bench-1k"', 'via', '1.1 switchyard', 'age', '0', 'x-cache', 'HIT', 'x-request-id', 'bare']

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } })
const uws = loadNativeUws()
const app = uws.App().any('/*', (res, req) => {
  // What every Switchyard request does first: copy the request's headers.
  const h: string[] = []
  req.forEach((k, v) => { h.push(k, v) })
  res.onAborted(() => {})
  res.cork(() => {
    res.writeStatus('200 OK')
    for (let i = 0; i < HEADERS.length; i += 2) res.writeHeader(HEADERS[i]!, HEADERS[i + 1]!)
    res.tryEnd(BODY, BODY.length)
  })
})
app.listen(values.host, Number(values.port), (ls) => {
  if (ls === false) { console.error(`cannot listen on ${values.host}:${values.port}`); process.exit(1) }
  process.stdout.write(JSON.stringify({ event: 'listening', port: uws.us_socket_local_port(ls as unknown as Parameters<typeof uws.us_socket_local_port>[0]) }) + '\n')
})
process.once('SIGTERM', () => process.exit(0))
process.once('SIGINT', () => process.exit(0))
