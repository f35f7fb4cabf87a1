// The fast backend for load runs when nginx is not installed: a bare uWebSockets.js app answering /100b and /64k
// with fixed bodies and /upload by reading and dropping the body, faster than any proxy in front of it.
// Run as `node dist/bench/servers/uws-backend.js --port P`; prints one JSON line when listening.
import { parseArgs } from 'node:util'
import { loadNativeUws } from '../../src/engine/index.ts'

const BODY_100B = Buffer.alloc(100, 'x')
const BODY_64K = Buffer.alloc(65_536, 'y')

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } })
const uws = loadNativeUws()
const app = uws.App()
  .get('/100b', (res) => { res.writeHeader('content-type', 'application/octet-stream').end(BODY_100B) })
  .get('/64k', (res) => { res.writeHeader('content-type', 'application/octet-stream').end(BODY_64K) })
  .post('/upload', (res) => {
    let bytes = 0
    res.onAborted(() => { bytes = -1 })
    res.onData((ab, last) => {
      bytes += ab.byteLength
      if (last && bytes >= 0) res.cork(() => { res.writeHeader('content-type', 'application/json').end(`{"bytes":${bytes}}`) })
    })
  })
  .any('/*', (res) => { res.writeStatus('404 Not Found').end('not found\n') })
app.listen(values.host, Number(values.port), (ls) => {
  if (ls === false) { console.error(`cannot listen on ${values.host}:${values.port}`); process.exit(1) }
  process.stdout.write(JSON.stringify({ event: 'listening', port: uws.us_socket_local_port(ls as unknown as Parameters<typeof uws.us_socket_local_port>[0]) }) + '\n')
})
process.once('SIGTERM', () => process.exit(0))
process.once('SIGINT', () => process.exit(0))
