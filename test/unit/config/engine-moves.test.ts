// engineMoves: which listen entries a reload would hand to the other engine on a Node without reusePort (where the
// new generation cannot bind beside the old one), and nodeHasReusePort's version table.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfig, engineMoves, nodeHasReusePort, type Config } from '../../../src/config/index.ts'

const listen = (entries: Array<Record<string, unknown>>): Config['listen'] => loadConfig({
  listen: entries,
  upstreams: { api: { servers: [{ url: 'http://127.0.0.1:9001' }] } },
  routes: [{ upstream: 'api' }]
}).listen

test('engineMoves: ports moved from uws to node and from node to uws are named by key path', () => {
  const current = listen([{ host: '127.0.0.1', port: 8080 }, { host: '127.0.0.1', port: 8443, h2c: true }])
  const next = listen([{ host: '127.0.0.1', port: 8443 }, { host: '127.0.0.1', port: 8080, engine: 'node' }])
  const problems = engineMoves(current, next, false)
  assert.deepEqual(problems.map((p) => p.path), ['listen[0].engine', 'listen[1].engine'])
  assert.match(problems[0]!.reason, /^127\.0\.0\.1:8443 is served by the node engine; .* cannot hand it to the uws engine/)
  assert.match(problems[1]!.reason, /^127\.0\.0\.1:8080 is served by the uws engine; .* cannot hand it to the node engine/)
})

test('engineMoves: nothing when the engine stays (h2c is the node engine), a port is new, or Node has reusePort', () => {
  const current = listen([{ host: '127.0.0.1', port: 8080, engine: 'node' }])
  assert.deepEqual(engineMoves(current, listen([{ host: '127.0.0.1', port: 8080, h2c: true }]), false), [])
  assert.deepEqual(engineMoves(current, listen([{ host: '127.0.0.1', port: 9090 }]), false), [])
  assert.deepEqual(engineMoves(current, listen([{ host: '127.0.0.1', port: 8080 }]), true), [])
  assert.equal(engineMoves(current, listen([{ host: '127.0.0.1', port: 8080 }]), false).length, 1)
})

test('nodeHasReusePort: Node 22.12+ and 23.1+', () => {
  assert.deepEqual(['20.20.2', '22.11.0', '22.12.0', '23.0.0', '23.1.0', '24.22.3'].map((v) => nodeHasReusePort(v)), [false, false, true, false, true, true])
})
