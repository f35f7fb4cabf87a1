// The peer address is read from the engine only when something asks, once, and never after the response is over
// (the listener's PeerAddress answers '' then): a cache hit that no stage asks about never pays for it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Exchange, type Downstream, type LocalReplies, type PeerAddress } from '../../../src/pipeline/index.ts'

const downstream: Downstream = { start () {}, write: () => true, end () {}, abort () {}, reply () {}, onDrain: null }
const replies: LocalReplies = { reply () {}, fault () {} }

function exchange (peerIp: string | PeerAddress): Exchange {
  return new Exchange({
    method: 'GET', path: '/', query: '', host: 'h', headers: [], contentLength: -1, contentLengthCount: 0,
    chunked: false, peerIp, tls: false, startTime: 0, body: null, downstream, replies, onComplete () {}
  })
}

test('the engine is asked for the peer address on first use only', () => {
  let calls = 0
  const ex = exchange({ remoteAddress () { calls++; return '192.0.2.7' } })
  assert.equal(calls, 0)
  assert.equal(ex.peerIp, '192.0.2.7')
  assert.equal(ex.clientIp, '192.0.2.7')
  assert.equal(ex.peerIp, '192.0.2.7')
  assert.equal(calls, 1)
})

test('a request nobody asks about never reads the address', () => {
  let calls = 0
  const ex = exchange({ remoteAddress () { calls++; return '192.0.2.7' } })
  ex.requestId = 'x'
  ex.completed()
  assert.equal(calls, 0)
})

test('a client address set from X-Forwarded-For wins over the peer, which stays the peer', () => {
  const ex = exchange('10.0.0.1')
  assert.equal(ex.clientIp, '10.0.0.1')
  ex.clientIp = '203.0.113.9'
  assert.equal(ex.clientIp, '203.0.113.9')
  assert.equal(ex.peerIp, '10.0.0.1')
})
