// The framing checks as a table over plain Exchanges: what is ambiguous (refused with 400 and a close) and what is
// a control character in the target. The raw-socket cases in test/security/ show the same through a real proxy.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ambiguousFraming, controlInTarget, headTooLarge, validHost, validMethod } from '../../../src/guard/framing.ts'
import { Exchange, type Downstream, type LocalReplies } from '../../../src/pipeline/index.ts'

const unused: Downstream = { start () {}, write () { return true }, end () {}, abort () {}, reply () {}, onDrain: null }
const replies: LocalReplies = { reply () {}, fault () {} }

/** An Exchange as the listener builds it: Content-Length counted, any Transfer-Encoding marks it chunked. */
function exchange (headers: string[], path = '/', query = '', method = 'POST'): Exchange {
  let contentLength = -1
  let contentLengthCount = 0
  let chunked = false
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === 'content-length' && contentLengthCount++ === 0) contentLength = Number(headers[i + 1])
    if (headers[i] === 'transfer-encoding') chunked = true
  }
  return new Exchange({
    method, path, query, host: 'h', headers, contentLength, contentLengthCount, chunked,
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
  { name: 'an empty header name', input: ['host', 'h', '', 'x'], expected: true },
  { name: 'Transfer_Encoding (a backend may read _ as -)', input: ['host', 'h', 'transfer_encoding', 'chunked'], expected: true },
  { name: 'Content_Length', input: ['host', 'h', 'content_length', '5'], expected: true },
  { name: 'Content-_Length stays another field', input: ['host', 'h', 'content-_length', '5'], expected: false },
  { name: 'an ordinary name with _', input: ['host', 'h', 'x_api_key', 'k'], expected: false }
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

// RFC 9112 §3.2 with RFC 3986 §3.2.2: reg-name, IPv4, IP literal (IPv6 or IPvFuture), optional port; empty is allowed.
const hosts: Array<{ name: string, input: string, expected: boolean }> = [
  { name: 'a name', input: 'example.com', expected: true },
  { name: 'a name and port', input: 'example.com:8080', expected: true },
  { name: 'an empty port', input: 'example.com:', expected: true },
  { name: 'IPv4', input: '127.0.0.1', expected: true },
  { name: 'IPv6 literal with port', input: '[::1]:8080', expected: true },
  { name: 'IPv4-mapped IPv6', input: '[::ffff:127.0.0.1]', expected: true },
  { name: 'IPvFuture', input: '[v7.fe80::1+zone]', expected: true },
  { name: 'empty (a target without authority)', input: '', expected: true },
  { name: 'sub-delims and pct-encoded', input: "a-b_c~d!$&'()*+,;=%41.test", expected: true },
  { name: 'a space', input: 'exa mple.com', expected: false },
  { name: 'a slash', input: 'example.com/evil', expected: false },
  { name: 'userinfo', input: 'user@example.com', expected: false },
  { name: 'a port with letters', input: 'example.com:80a', expected: false },
  { name: 'two ports', input: 'example.com:80:81', expected: false },
  { name: 'an unclosed IP literal', input: '[::1', expected: false },
  { name: 'a bare IPv6 address', input: '::1', expected: false },
  { name: 'a bad %-escape', input: 'exa%zzmple.com', expected: false },
  { name: 'a double quote', input: 'ex"ample.com', expected: false },
  { name: 'a backslash', input: 'example.com\\x', expected: false },
  { name: 'non-ASCII (IDNs go as A-labels)', input: 'bücher.example', expected: false },
  { name: 'a question mark', input: 'example.com?x', expected: false },
  { name: 'a hash', input: 'example.com#x', expected: false }
]

for (const c of hosts) {
  test(`Host ${JSON.stringify(c.input)} (${c.name}) → ${c.expected ? 'valid' : 'refused'}`, () => {
    assert.equal(validHost(c.input), c.expected)
  })
}

test('a method is an RFC 9110 token: any case and extension methods pass, separators do not', () => {
  for (const m of ['GET', 'PURGE', 'M-SEARCH', 'get', 'BASELINE-CONTROL', 'X_Y.Z~1']) assert.equal(validMethod(m), true, m)
  for (const m of ['', 'G@T', 'GE T', 'GET/1', 'GÉT', 'GET:', '(GET)']) assert.equal(validMethod(m), false, m)
})

test('head limits: header lines counted, and the head measured as the wire has it', () => {
  const lines = (n: number): string[] => Array.from({ length: n }, (_, i) => [`x-h${i}`, 'v']).flat()
  assert.equal(headTooLarge(exchange(lines(64)), 64, 1 << 20), false)
  assert.equal(headTooLarge(exchange(lines(65)), 64, 1 << 20), true)
  // "GET /abc?q=1 HTTP/1.1\r\n" is 23 bytes, "x: yy\r\n" 7, the final CRLF 2: 32 in all.
  const one = exchange(['x', 'yy'], '/abc', 'q=1', 'GET')
  assert.equal(headTooLarge(one, 64, 32), false)
  assert.equal(headTooLarge(one, 64, 31), true)
})
