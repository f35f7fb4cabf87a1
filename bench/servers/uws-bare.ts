// The ceiling for bench/load/cache.ts: a bare uWebSockets.js app that answers every request with the 1 KiB object
// and the same response fields a Switchyard cache hit sends, in the fewest calls uWS allows: the status line and
// fixed fields as one prebuilt buffer, Age and the request id as one field, the body in one end (what
// UwsDownstream.send does). No proxy can serve a hit on this uWS build faster than this.
// Run as `node dist/bench/servers/uws-bare.js --port P`; prints one JSON line.
import { parseArgs } from 'node:util'
import { loadNativeUws } from '../../src/engine/index.ts'

const BODY = Buffer.alloc(1024, 'c')
const HEAD = Buffer.from('200 OK\r\ncontent-type: application/octet-stream\r\ncache-control: max-age=3600\r\netag: "bench-1k"\r\nvia: 1.1 switchyard\r\nx-cache: HIT', 'latin1')

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } })
const uws = loadNativeUws()
let n = 0
const app = uws.App().any('/*', (res, req) => {
  // What every Switchyard request does first: copy the request's headers.
  const h: string[] = []
  req.forEach((k, v) => { h.push(k, v) })
  // Answered within the handler: uWS has corked the socket and no abort can come first.
  res.writeStatus(HEAD)
  res.writeHeader('age', `0\r\nx-request-id: bare-${++n}`)
  res.end(BODY)
})
app.listen(values.host, Number(values.port), (ls) => {
  if (ls === false) { console.error(`cannot listen on ${values.host}:${values.port}`); process.exit(1) }
  process.stdout.write(JSON.stringify({ event: 'listening', port: uws.us_socket_local_port(ls as unknown as Parameters<typeof uws.us_socket_local_port>[0]) }) + '\n')
})
process.once('SIGTERM', () => process.exit(0))
process.once('SIGINT', () => process.exit(0))
