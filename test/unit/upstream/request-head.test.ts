// The request head the upstream client writes: its exact bytes, the framing field it adds, and the refusal (a 400,
// nothing sent) of anything a backend could read as a second field or request: the same client-derived slots that
// test/unit/guard/forwarded-headers.test.ts checks against undici, here against our own encoder.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { buildRequestHeaders, classifyUpstreamError } from '../../../src/upstream/index.ts'
import { CHUNKED, encodeRequestHead, LENGTH, NO_BODY } from '../../../src/upstream/client/request-head.ts'
import { Exchange, type Downstream } from '../../../src/pipeline/index.ts'

const BAD = ['\r\nX-Injected: 1', '\nX-Injected: 1', 'a\rb', 'a\u0000b', 'a\u0001b', 'a\u007fb']

const sink: Downstream = { onDrain: null, start () {}, write () { return true }, end () {}, abort () {}, reply () {} }

function exchange (o: { host?: string, headers?: string[] }): Exchange {
  const ex = new Exchange({
    method: 'GET', path: '/x', query: '', host: o.host ?? 'a', headers: o.headers ?? [], contentLength: -1, contentLengthCount: 0,
    chunked: false, peerIp: '127.0.0.1', tls: false, startTime: 0, body: null, downstream: sink,
    replies: { reply () {}, fault () {} }, onComplete: () => {}
  })
  ex.requestId = 'r1'
  ex.trustedPeer = true
  return ex
}

test('the head is the request line, the fields and the empty line, in one string', () => {
  assert.equal(encodeRequestHead('GET', '/a?b=1', ['host', 'h', 'x-a', 'caf\xe9'], NO_BODY), 'GET /a?b=1 HTTP/1.1\r\nhost: h\r\nx-a: caf\xe9\r\n\r\n')
})

const framing = [
  { name: 'a body of known length: the caller sent Content-Length', input: ['PUT', LENGTH] as const, expected: 'PUT / HTTP/1.1\r\n\r\n' },
  { name: 'a body of unknown length goes chunked', input: ['POST', CHUNKED] as const, expected: 'POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n' },
  { name: 'a POST without a body says Content-Length: 0', input: ['POST', NO_BODY] as const, expected: 'POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n' },
  { name: 'a GET without a body says nothing', input: ['GET', NO_BODY] as const, expected: 'GET / HTTP/1.1\r\n\r\n' }
]
for (const c of framing) {
  test(`framing: ${c.name}`, () => { assert.equal(encodeRequestHead(c.input[0], '/', [], c.input[1]), c.expected) })
}

test('CR, LF, NUL and other controls in any client-derived slot are refused as a 400 before anything is written', () => {
  const slots: Array<{ name: string, make: (bad: string) => Exchange }> = [
    { name: 'a plain request field', make: (bad) => exchange({ headers: ['x-custom', `v${bad}`] }) },
    { name: 'Host (also X-Forwarded-Host)', make: (bad) => exchange({ host: `a${bad}` }) },
    { name: 'X-Forwarded-For from a trusted peer', make: (bad) => exchange({ headers: ['x-forwarded-for', `1.2.3.4${bad}`] }) },
    { name: 'X-Forwarded-Proto from a trusted peer', make: (bad) => exchange({ headers: ['x-forwarded-proto', `https${bad}`] }) },
    { name: 'Via', make: (bad) => exchange({ headers: ['via', `1.1 x${bad}`] }) }
  ]
  for (const slot of slots) {
    for (const bad of BAD) {
      const headers = buildRequestHeaders(slot.make(bad), '127.0.0.1', { preserveHost: true, via: true, startTrace: () => '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' })
      assert.throws(() => encodeRequestHead('GET', '/x', headers, NO_BODY), (err: Error & { code?: string }) => {
        assert.equal(classifyUpstreamError(err).code, 'SWY_BAD_REQUEST', `${slot.name} ${JSON.stringify(bad)}: ${err.message}`)
        return true
      }, `${slot.name} ${JSON.stringify(bad)}`)
    }
  }
})

test('a bad method, target or field name is refused too', () => {
  for (const [method, target, headers] of [
    ['G T', '/', []], ['', '/', []], ['GET', '/a b', []], ['GET', '/a\r\nX: 1', []], ['GET', '', []], ['GET', '/\u0100', []],
    ['GET', '/', ['', 'v']], ['GET', '/', ['a b', 'v']], ['GET', '/', ['x\r\ny', 'v']], ['GET', '/', ['x:', 'v']]
  ] as Array<[string, string, string[]]>) {
    assert.throws(() => encodeRequestHead(method, target, headers, NO_BODY), { code: 'UPSTREAM_INVALID_REQUEST' }, JSON.stringify([method, target, headers]))
  }
})
