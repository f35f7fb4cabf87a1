// TLS session resumption to backends: each server's pool keeps the last session and offers it on the next
// handshake, so a new connection to the same server (here forced by `Connection: close`) skips the full handshake.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:https'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { startProxy, request } from '../helpers/index.ts'
import { createPki } from '../helpers/certs.ts'

test('a new connection to an https:// server resumes the last TLS session', async (t) => {
  const pki = createPki(t)
  const files = pki.issue('backend', { sans: ['IP:127.0.0.1'] })
  const reused: boolean[] = []
  const server = createServer({ cert: readFileSync(files.cert), key: readFileSync(files.key) }, (req, res) => {
    reused.push((req.socket as TLSSocket).isSessionReused())
    res.setHeader('connection', 'close')
    res.end('hello')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(async () => { server.closeAllConnections(); await new Promise<void>((resolve) => server.close(() => resolve())) })
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  const proxy = await startProxy(t, { workers: 1, upstreams: { app: { servers: [{ url }], tls: { ca: pki.ca } } }, routes: [{ upstream: 'app' }] })
  for (let i = 0; i < 3; i++) assert.equal((await request(`${proxy.url}/${i}`)).body, 'hello')
  assert.deepEqual(reused, [false, true, true])
})
