// The node engine accepts connections on a front socket (to take PROXY headers off) and hands them to node:http,
// node:https or node:http2: each accepted socket must come out as that server would have made it itself.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createSecureServer } from 'node:http2'
import { connect, createServer as createNetServer, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import { acceptOptions } from '../../../src/listener/node/listener.ts'

/** The socket `server` makes of one connection: allowHalfOpen and buffer sizes as node set them. */
async function accepted (server: Server): Promise<{ allowHalfOpen: boolean, readable: number, writable: number }> {
  const got = new Promise<Socket>((resolve) => { server.once('connection', resolve) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const c = connect((server.address() as { port: number }).port, '127.0.0.1')
  const s = await got
  const out = { allowHalfOpen: s.allowHalfOpen, readable: s.readableHighWaterMark, writable: s.writableHighWaterMark }
  c.destroy()
  s.destroy()
  server.close()
  return out
}

test('a front socket accepts connections as node:http, node:https and node:http2 would have', async () => {
  const servers: Array<[string, () => Server]> = [
    ['http, 64 KiB buffers', () => createHttpServer({ highWaterMark: 64 * 1024 })],
    ['http, defaults', () => createHttpServer()],
    ['https', () => createHttpsServer({ highWaterMark: 32 * 1024 })],
    ['http2 secure', () => createSecureServer({ allowHTTP1: true }) as unknown as Server]
  ]
  for (const [name, make] of servers) {
    const own = await accepted(make())
    const front = await accepted(createNetServer(acceptOptions(make())))
    assert.deepEqual(front, own, name)
  }
  // node:http sockets are half-open: node:http, not the socket, decides what a client's FIN means.
  assert.equal((await accepted(createNetServer(acceptOptions(createHttpServer())))).allowHalfOpen, true)
  assert.equal(acceptOptions(createHttpServer()).noDelay, true)
})
