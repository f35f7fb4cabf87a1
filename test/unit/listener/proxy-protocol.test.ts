// PROXY protocol v2 headers as the node engine reads them (haproxy.org proxy-protocol.txt §2.2): the client's address
// for TCP and UDP over IPv4 and IPv6, none for LOCAL or other families, `more` until a header is whole, `none` for
// anything that is not one (PROXY v1 text, HTTP, TLS), `bad` for a broken one.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseProxyV2 } from '../../../src/listener/node/proxy-protocol.ts'

const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]

function header (verCmd: number, famProto: number, body: number[]): Buffer {
  return Buffer.from([...SIG, verCmd, famProto, body.length >> 8, body.length & 255, ...body])
}

const v4 = [203, 0, 113, 7, 127, 0, 0, 1, 0x0f, 0xa0, 0x1f, 0x90]
const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, ...new Array<number>(16).fill(0), 0x0f, 0xa0, 0x1f, 0x90]

test('TCP and UDP over IPv4 and IPv6 name the source address; TLVs after the addresses are taken off too', () => {
  assert.deepEqual(parseProxyV2(header(0x21, 0x11, v4)), { kind: 'header', length: 28, client: '203.0.113.7' })
  assert.deepEqual(parseProxyV2(header(0x21, 0x12, v4)), { kind: 'header', length: 28, client: '203.0.113.7' })
  assert.deepEqual(parseProxyV2(header(0x21, 0x21, v6)), { kind: 'header', length: 52, client: '2001:db8::1' })
  // An AWS NLB-style TLV (type 0xEA) after the IPv4 block.
  const tlv = [0xea, 0, 4, 1, 2, 3, 4]
  assert.deepEqual(parseProxyV2(header(0x21, 0x11, [...v4, ...tlv])), { kind: 'header', length: 35, client: '203.0.113.7' })
  // Bytes after the header are not its business.
  assert.deepEqual(parseProxyV2(Buffer.concat([header(0x21, 0x11, v4), Buffer.from('GET / HTTP/1.1\r\n')])), { kind: 'header', length: 28, client: '203.0.113.7' })
})

test('LOCAL (a health check from the balancer itself), UNSPEC and unix families name no one', () => {
  assert.deepEqual(parseProxyV2(header(0x20, 0x00, [])), { kind: 'header', length: 16, client: undefined })
  assert.deepEqual(parseProxyV2(header(0x20, 0x11, v4)), { kind: 'header', length: 28, client: undefined })
  assert.deepEqual(parseProxyV2(header(0x21, 0x00, [])), { kind: 'header', length: 16, client: undefined })
  assert.deepEqual(parseProxyV2(header(0x21, 0x31, new Array<number>(216).fill(0))), { kind: 'header', length: 232, client: undefined })
})

test('a header is `more` until it is whole, at every cut', () => {
  const h = header(0x21, 0x11, v4)
  for (let n = 0; n < h.length; n++) assert.equal(parseProxyV2(h.subarray(0, n)).kind, 'more', `first ${n} bytes`)
})

test('what is not a v2 header is `none`: HTTP, PROXY v1 text, a TLS ClientHello, a near-miss signature', () => {
  for (const b of ['GET / HTTP/1.1\r\n', 'PROXY TCP4 203.0.113.7 127.0.0.1 4000 8080\r\n', 'PRI * HTTP/2.0\r\n']) assert.equal(parseProxyV2(Buffer.from(b)).kind, 'none', b)
  assert.equal(parseProxyV2(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])).kind, 'none')
  assert.equal(parseProxyV2(Buffer.from([...SIG.slice(0, 11), 0x0b])).kind, 'none')
})

test('a broken header is `bad`: another version, an unknown command, an address block too short or over 4 KiB', () => {
  assert.equal(parseProxyV2(header(0x11, 0x11, v4)).kind, 'bad')
  assert.equal(parseProxyV2(header(0x22, 0x11, v4)).kind, 'bad')
  assert.equal(parseProxyV2(header(0x21, 0x11, v4.slice(0, 8))).kind, 'bad')
  assert.equal(parseProxyV2(header(0x21, 0x21, v4)).kind, 'bad')
  assert.equal(parseProxyV2(Buffer.from([...SIG, 0x21, 0x11, 0x10, 0x01])).kind, 'bad')
})
