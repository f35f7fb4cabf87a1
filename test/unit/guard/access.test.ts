// Access-list decisions as a table: IPv4, IPv6, IPv4-mapped IPv6 in both directions, deny over allow.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createAccessCheck, createAccess, type AccessLists } from '../../../src/guard/index.ts'

interface Case { name: string, input: AccessLists & { ip: string }, expected: boolean }

const office: AccessLists = { allow: ['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1'], deny: ['10.6.6.0/24', '::ffff:10.9.0.0/112'] }

const cases: Case[] = [
  { name: 'no lists: everyone passes', input: { allow: [], deny: [], ip: '203.0.113.9' }, expected: true },
  { name: 'deny only: a listed address is refused', input: { allow: [], deny: ['203.0.113.9'], ip: '203.0.113.9' }, expected: false },
  { name: 'deny only: its neighbour passes', input: { allow: [], deny: ['203.0.113.9'], ip: '203.0.113.10' }, expected: true },
  { name: 'allow: inside the CIDR passes', input: { ...office, ip: '10.1.2.3' }, expected: true },
  { name: 'allow: a single allowed address passes', input: { ...office, ip: '192.168.1.7' }, expected: true },
  { name: 'allow: outside every entry is refused', input: { ...office, ip: '192.168.1.8' }, expected: false },
  { name: 'deny wins over allow', input: { ...office, ip: '10.6.6.200' }, expected: false },
  { name: 'IPv6 inside an allowed prefix', input: { ...office, ip: 'fd12:3456::1' }, expected: true },
  { name: 'IPv6 outside every prefix', input: { ...office, ip: '2001:db8::1' }, expected: false },
  { name: 'IPv6 loopback allowed as an address', input: { ...office, ip: '::1' }, expected: true },
  { name: 'IPv4-mapped IPv6 client matches an IPv4 allow entry', input: { ...office, ip: '::ffff:10.1.2.3' }, expected: true },
  { name: 'IPv4-mapped IPv6 client matches an IPv4 deny entry', input: { ...office, ip: '::ffff:10.6.6.1' }, expected: false },
  { name: 'IPv4 client matches an IPv4-mapped IPv6 deny entry', input: { ...office, ip: '10.9.1.1' }, expected: false },
  { name: 'IPv4-mapped IPv6 in full form (as uWS reports it) matches', input: { ...office, ip: '0000:0000:0000:0000:0000:ffff:0a06:0601' }, expected: false },
  { name: 'deny 0.0.0.0/0 refuses all IPv4 but not IPv6', input: { allow: [], deny: ['0.0.0.0/0'], ip: '2001:db8::1' }, expected: true },
  { name: 'deny ::/0 refuses IPv6', input: { allow: [], deny: ['::/0'], ip: '2001:db8::1' }, expected: false },
  { name: 'a client address that is no IP never matches an allow list', input: { allow: ['10.0.0.0/8'], deny: [], ip: 'unknown' }, expected: false }
]

for (const c of cases) {
  test(c.name, () => {
    const { ip, ...lists } = c.input
    assert.equal(createAccessCheck(lists)(ip), c.expected)
  })
}

test('a route without lists gets no access stage', () => {
  assert.equal(createAccess({ allow: [], deny: [] }), undefined)
  assert.equal(createAccess({ allow: [], deny: ['10.0.0.0/8'] })?.name, 'access')
})
