// normaliseAddress (uWS's full IPv6 and IPv4-mapped forms), parseCidr, and CIDR sets over IPv4 and IPv6.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { addressFromBytes, normaliseAddress, parseCidr, createCidrSet } from '../../../src/net/cidr.ts'

const addresses: Array<{ name: string, input: string, expected: string }> = [
  { name: 'IPv4 stays as it is', input: '203.0.113.7', expected: '203.0.113.7' },
  { name: 'uWS full IPv4-mapped form', input: '0000:0000:0000:0000:0000:ffff:7f00:0001', expected: '127.0.0.1' },
  { name: 'uWS full IPv4-mapped form, high bytes', input: '0000:0000:0000:0000:0000:ffff:cb00:71ff', expected: '203.0.113.255' },
  { name: 'upper-case full IPv4-mapped form', input: '0000:0000:0000:0000:0000:FFFF:0A00:0001', expected: '10.0.0.1' },
  { name: 'compressed IPv4-mapped, dotted', input: '::ffff:10.1.2.3', expected: '10.1.2.3' },
  { name: 'compressed IPv4-mapped, hex', input: '::ffff:7f00:1', expected: '127.0.0.1' },
  { name: 'uncompressed IPv4-mapped, dotted', input: '0:0:0:0:0:ffff:192.0.2.1', expected: '192.0.2.1' },
  { name: 'uWS full loopback', input: '0000:0000:0000:0000:0000:0000:0000:0001', expected: '::1' },
  { name: 'uWS full unspecified', input: '0000:0000:0000:0000:0000:0000:0000:0000', expected: '::' },
  { name: 'uWS full global address', input: '2001:0db8:0000:0000:0000:ff00:0042:8329', expected: '2001:db8::ff00:42:8329' },
  { name: 'upper case is lowered', input: '2001:DB8::1', expected: '2001:db8::1' },
  { name: 'the longest zero run is compressed', input: '2001:db8:0:0:1:0:0:0', expected: '2001:db8:0:0:1::' },
  { name: 'on equal zero runs the first is compressed', input: '2001:db8:0:0:1:0:0:1', expected: '2001:db8::1:0:0:1' },
  { name: 'a single zero group is not compressed', input: '2001:db8:0:1:1:1:1:1', expected: '2001:db8:0:1:1:1:1:1' },
  { name: 'already canonical', input: 'fe80::1', expected: 'fe80::1' },
  { name: 'a zone index is kept', input: 'FE80::1%eth0', expected: 'fe80::1%eth0' },
  { name: 'IPv4-translated is not IPv4-mapped', input: '::ffff:0:1.2.3.4', expected: '::ffff:0:102:304' },
  { name: 'not an address comes back unchanged', input: 'not-an-ip', expected: 'not-an-ip' },
  { name: 'garbage in the mapped form comes back unchanged', input: '0000:0000:0000:0000:0000:ffff:7f0g:0001', expected: '0000:0000:0000:0000:0000:ffff:7f0g:0001' }
]

for (const c of addresses) {
  test(`normaliseAddress: ${c.name}`, () => {
    assert.equal(normaliseAddress(c.input), c.expected)
  })
}

const fromBytes: Array<{ name: string, bytes: number[], expected: string }> = [
  { name: 'IPv4', bytes: [203, 0, 113, 7], expected: '203.0.113.7' },
  { name: 'IPv4, twice (the cached text)', bytes: [203, 0, 113, 7], expected: '203.0.113.7' },
  { name: 'IPv4 with high bytes', bytes: [255, 254, 0, 1], expected: '255.254.0.1' },
  { name: 'IPv4-mapped IPv6 (an IPv4 peer on a dual-stack socket)', bytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 127, 0, 0, 1], expected: '127.0.0.1' },
  { name: 'IPv6 loopback', bytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], expected: '::1' },
  { name: 'IPv6 global', bytes: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0x42, 0x83, 0x29], expected: '2001:db8::ff00:42:8329' },
  { name: 'IPv4-translated is not IPv4-mapped', bytes: [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 2, 3, 4], expected: '::ffff:0:102:304' },
  { name: 'no address (a closed socket)', bytes: [], expected: '' }
]

for (const c of fromBytes) {
  test(`addressFromBytes: ${c.name}`, () => {
    assert.equal(addressFromBytes(new Uint8Array(c.bytes).buffer), c.expected)
  })
}

test('addressFromBytes gives what normaliseAddress gives for uWS\'s text of the same address', () => {
  // uWS's text form: IPv4 dotted, IPv6 as eight 4-digit groups; 2,000 random addresses of each length.
  const full = (b: Buffer): string => b.length === 4 ? [...b].join('.') : (b.toString('hex').match(/.{4}/g) ?? []).join(':')
  for (let i = 0; i < 2000; i++) {
    for (const b of [randomBytes(4), randomBytes(16), Buffer.concat([Buffer.alloc(10), Buffer.from([255, 255]), randomBytes(4)])]) {
      const bytes = new Uint8Array(b).buffer
      assert.equal(addressFromBytes(bytes), normaliseAddress(full(b)), full(b))
    }
  }
})

const cidrs: Array<{ name: string, input: string, expected: ReturnType<typeof parseCidr> }> = [
  { name: 'IPv4 CIDR', input: '10.0.0.0/8', expected: { address: '10.0.0.0', prefix: 8, family: 'ipv4' } },
  { name: 'bare IPv4 is a /32', input: '192.168.1.1', expected: { address: '192.168.1.1', prefix: 32, family: 'ipv4' } },
  { name: 'IPv6 CIDR', input: 'fd00::/8', expected: { address: 'fd00::', prefix: 8, family: 'ipv6' } },
  { name: 'bare IPv6 is a /128', input: '::1', expected: { address: '::1', prefix: 128, family: 'ipv6' } },
  { name: 'everything', input: '0.0.0.0/0', expected: { address: '0.0.0.0', prefix: 0, family: 'ipv4' } },
  { name: 'IPv4 prefix too long', input: '10.0.0.0/33', expected: undefined },
  { name: 'IPv6 prefix too long', input: '::/129', expected: undefined },
  { name: 'empty prefix', input: '10.0.0.0/', expected: undefined },
  { name: 'non-numeric prefix', input: '10.0.0.0/x', expected: undefined },
  { name: 'signed prefix', input: '10.0.0.0/+8', expected: undefined },
  { name: 'two slashes', input: '10.0.0.0/8/9', expected: undefined },
  { name: 'a host name', input: 'proxy.internal/24', expected: undefined },
  { name: 'an incomplete address', input: '10.0.0/8', expected: undefined }
]

for (const c of cidrs) {
  test(`parseCidr: ${c.name} (${c.input})`, () => {
    assert.deepEqual(parseCidr(c.input), c.expected)
  })
}

const set = createCidrSet(['10.0.0.0/8', '192.168.1.1', '2001:db8::/32', '::1'])

const members: Array<{ name: string, input: string, expected: boolean }> = [
  { name: 'inside an IPv4 range', input: '10.200.3.4', expected: true },
  { name: 'outside every IPv4 range', input: '11.0.0.1', expected: false },
  { name: 'the single IPv4 address', input: '192.168.1.1', expected: true },
  { name: 'next to the single IPv4 address', input: '192.168.1.2', expected: false },
  { name: 'inside the IPv6 range', input: '2001:db8:1::5', expected: true },
  { name: 'inside the IPv6 range, full form', input: '2001:0db8:0000:0000:0000:0000:0000:0005', expected: true },
  { name: 'outside the IPv6 range', input: '2001:db9::1', expected: false },
  { name: 'the single IPv6 address', input: '::1', expected: true },
  { name: 'an IPv4 range matches an IPv4-mapped peer', input: '::ffff:10.0.0.1', expected: true },
  { name: 'a normalised uWS peer', input: normaliseAddress('0000:0000:0000:0000:0000:ffff:0a01:0203'), expected: true },
  { name: 'not an address', input: 'nope', expected: false },
  { name: 'empty', input: '', expected: false }
]

for (const c of members) {
  test(`createCidrSet.has: ${c.name} (${c.input})`, () => {
    assert.equal(set.has(c.input), c.expected)
  })
}

test('createCidrSet: size, the empty set, and a bad entry throws', () => {
  assert.equal(set.size, 4)
  const empty = createCidrSet([])
  assert.equal(empty.size, 0)
  assert.equal(empty.has('10.0.0.1'), false)
  assert.throws(() => createCidrSet(['10.0.0.0/40']), /not a CIDR: 10\.0\.0\.0\/40/)
})
