// The backend for bench/load/websocket.ts: a bare uWebSockets.js WebSocket echo server (and 200 OK to plain GETs,
// for readiness checks), faster than any proxy in front of it. Run as `node dist/bench/servers/uws-ws-echo.js --port P`;
// prints one JSON line.
import { parseArgs } from 'node:util'
import { loadNativeUws } from '../../src/engine/index.ts'

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } })
const uws = loadNativeUws()
const app = uws.App()
app.ws('/*', {
  maxPayloadLength: 16 * 1024 * 1024,
  maxBackpressure: 64 * 1024 * 1024,
  idleTimeout: 0,
  message: (ws, msg, isBinary) => { ws.send(msg, isBinary) }
})
app.any('/*', (res) => { res.end('ok') })
app.listen(values.host, Number(values.port), (ls) => {
  if (ls === false) { console.error(`cannot listen on ${values.host}:${values.port}`); process.exit(1) }
  process.stdout.write(JSON.stringify({ event: 'listening', port: uws.us_socket_local_port(ls as unknown as Parameters<typeof uws.us_socket_local_port>[0]) }) + '\n')
})
process.once('SIGTERM', () => process.exit(0))
process.once('SIGINT', () => process.exit(0))
