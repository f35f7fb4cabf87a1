// The framing checks as a table over plain Exchanges: what is ambiguous (refused with 400 and a close) and what is
// a control character in the target. The raw-socket cases in test/security/ show the same through a real proxy.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ambiguousFraming, controlInTarget } from '../../../src/guard/framing.ts'
import { Exchange, type Downstream, type LocalReplies } from '../../../src/pipeline/index.ts'

const unused: Downstream = { start () {}, write () { return true }, end () {}, abort () {}, reply () {}, onDrain: null }
const replies: LocalReplies = { reply () {}, fault () {} }

/** An Exchange as the listener builds it: Content-Length counted, any Transfer-Encoding marks it chunked. */
function exchange (headers: string[], path = '/', query = ''): Exchange {
  let contentLength = -1
  let contentLengthCount = 0
  let chunked = false
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === 'content-length' && contentLengthCount++ === 0) contentLength = Number(headers[i + 1])
    if (headers[i] === 'transfer-encoding') chunked = true
  }
  return new Exchange({
    method: 'POST', path, query, host: 'h', headers, contentLength, contentLengthCount, chunked,
    peerIp: '127.0.0.1', tls: false, startTime: 0, body: null, downstream: unused, replies, onComplete () {}
  })
}

const framing: Array<{ name: string, input: string[], expected: boolean }> = [
  { name: 'no body', input: ['host', 'h'], expected: false },
  { name: 'one Content-Length', input: ['host', 'h', 'content-length', '5'], expected: false },
  { name: 'chunked', input: ['host', 'h', 'transfer-encoding', 'chunked'], expected: false },
  { name: 'CHUNKED (coding names are case-insensitive)', input: ['host', 'h', 'transfer-encoding', 'CHUNKED'], expected: false },
  { name: 'two equal Content-Length', input: ['host', 'h', 'content-length', '5', 'content-length', '5'], expected: true },
  { name: 'two different Content-Length', input: ['host', 'h', 'content-length', '3', 'content-length', '5'], expected: true },
  { name: 'Content-Length and chunked', input: ['host', 'h', 'content-length', '5', 'transfer-encoding', 'chunked'], expected: true },
  { name: 'chunked then Content-Length', input: ['host', 'h', 'transfer-encoding', 'chunked', 'content-length', '5'], expected: true },
  { name: 'xchunked', input: ['host', 'h', 'transfer-encoding', 'xchunked'], expected: true },
  { name: 'gzip, chunked', input: ['host', 'h', 'transfer-encoding', 'gzip, chunked'], expected: true },
  { name: 'chunked, identity', input: ['host', 'h', 'transfer-encoding', 'chunked, identity'], expected: true },
  { name: 'identity', input: ['host', 'h', 'transfer-encoding', 'identity'], expected: true },
  { name: 'two chunked headers', input: ['host', 'h', 'transfer-encoding', 'chunked', 'transfer-encoding', 'chunked'], expected: true },
  { name: 'two Host headers', input: ['host', 'h', 'x-a', '1', 'host', 'evil'], expected: true },
  { name: 'an empty header name', input: ['host', 'h', '', 'x'], expected: true }
]

for (const c of framing) {
  test(`framing: ${c.name} → ${c.expected ? 'refused' : 'passes'}`, () => {
    assert.equal(ambiguousFraming(exchange(c.input)), c.expected)
  })
}

test('control characters in the path or query are caught; everything else in a target passes', () => {
  assert.equal(controlInTarget(exchange([], '/a\x7fb')), true)
  assert.equal(controlInTarget(exchange([], '/a', 'q=\x01')), true)
  assert.equal(controlInTarget(exchange([], '/a\x00')), true)
  assert.equal(controlInTarget(exchange([], '/caf\u00e9/%7f/a b', 'q=~!*')), false)
})
