// Does the engine stop reading a request body when told to? A bare uWS app (the build this runtime loads) pauses a
// POST once 16 MiB of its body arrived (the stream at full speed) and never resumes; each chunk is copied as a proxy
// does; a sender in another process writes as fast as loopback takes it.
// On uWS 20.30 the body stops at the pause; on 20.57 the engine reads on for as long as each read fills its 512 KiB
// buffer (docs/engines.md, "Request bodies and pause()"). Prints what arrived after the pause, per round.
//
//   node dist/bench/micro/pause-probe.js [--rounds 3] [--mb 144]
import { spawn } from 'node:child_process'
import { setTimeout as delay } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import type { us_listen_socket } from 'uWebSockets.js'
import { loadEngine } from '../../src/engine/index.ts'

const PAUSE_AT = 16 * 1024 * 1024
const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, mb: { type: 'string', default: '144' } } })
const rounds = Number(values.rounds)
const total = Number(values.mb) * 1024 * 1024
const engine = loadEngine(process.env)
const uws = engine.uws

async function round (): Promise<{ chunks: number, bytes: number, afterPause: number }> {
  let chunks = 0
  let bytes = 0
  let atPause = 0
  const copies: Buffer[] = []
  const app = uws.App().post('/*', (res) => {
    res.onAborted(() => {})
    res.onData((ab) => {
      chunks++
      bytes += ab.byteLength
      copies.push(Buffer.from(ab.slice(0)))
      if (copies.length > 8) copies.shift()
      if (atPause === 0 && bytes >= PAUSE_AT) { atPause = bytes; res.pause() }
    })
  })
  const listen = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen('127.0.0.1', 0, (ls) => { if (ls === false) reject(new Error('listen failed')); else resolve(ls) })
  })
  const port = uws.us_socket_local_port(listen)
  const sender = spawn(process.execPath, ['-e', `
    const s = require('node:net').connect(${port}, '127.0.0.1')
    s.on('error', () => {})
    s.write('POST /probe HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: ${total}\\r\\n\\r\\n')
    const chunk = Buffer.alloc(65536, 97)
    let sent = 0
    const pump = () => { while (sent < ${total}) { sent += chunk.length; if (!s.write(chunk)) { s.once('drain', pump); return } } }
    pump()
    setTimeout(() => process.exit(0), 5000)
  `], { stdio: 'ignore' })
  await delay(5500)
  sender.kill()
  uws.us_listen_socket_close(listen)
  return { chunks, bytes, afterPause: bytes - atPause }
}

console.log(`${engine.describe}: pause after ${PAUSE_AT / 1048576} MiB of the body, ${total / 1048576} MiB offered`)
for (let i = 1; i <= rounds; i++) {
  const r = await round()
  console.log(`round ${i}: ${r.chunks} chunks, ${(r.bytes / 1048576).toFixed(1)} MiB read, ${(r.afterPause / 1048576).toFixed(1)} MiB of it after pause()`)
}
process.exit(0)
