// createRouter: exact and one-label wildcard hosts, case and port ignored, longest prefix,
// host routes before any-host routes, first declared wins on equal prefixes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRouter, hostname, type RouteEntry } from '../../../src/router/index.ts'

const table: ReadonlyArray<RouteEntry<string>> = [
  { host: 'api.example.com', prefix: '/', value: 'api' },
  { host: 'api.example.com', prefix: '/admin/', value: 'api-admin' },
  { host: '*.example.com', prefix: '/', value: 'wild' },
  { host: '*.shop.example.com', prefix: '/', value: 'wild-shop' },
  { host: 'static.example.com', prefix: '/assets/', value: 'static-assets' },
  { prefix: '/', value: 'any' },
  { prefix: '/api', value: 'any-api' },
  { prefix: '/api/v2/', value: 'any-api-v2' },
  { prefix: '/dup/', value: 'dup-first' },
  { prefix: '/dup/', value: 'dup-second' }
]
const router = createRouter(table)

const cases: Array<{ name: string, input: { host: string, path: string }, expected: string | undefined }> = [
  { name: 'exact host', input: { host: 'api.example.com', path: '/x' }, expected: 'api' },
  { name: 'exact host, longer prefix', input: { host: 'api.example.com', path: '/admin/users' }, expected: 'api-admin' },
  { name: 'host case is ignored', input: { host: 'API.Example.COM', path: '/x' }, expected: 'api' },
  { name: 'host port is ignored', input: { host: 'api.example.com:8443', path: '/x' }, expected: 'api' },
  { name: 'a trailing dot is ignored', input: { host: 'api.example.com.', path: '/x' }, expected: 'api' },
  { name: 'a trailing dot before the port is ignored', input: { host: 'api.example.com.:80', path: '/x' }, expected: 'api' },
  { name: 'wildcard matches one label', input: { host: 'www.example.com', path: '/x' }, expected: 'wild' },
  { name: 'wildcard with port and case', input: { host: 'WWW.example.com:8080', path: '/x' }, expected: 'wild' },
  { name: 'wildcard does not match two labels', input: { host: 'a.b.example.com', path: '/x' }, expected: 'any' },
  { name: 'wildcard does not match the apex', input: { host: 'example.com', path: '/x' }, expected: 'any' },
  { name: 'wildcard does not match a bare dot label', input: { host: '.example.com', path: '/x' }, expected: 'any' },
  { name: 'a longer wildcard matches its own label', input: { host: 'eu.shop.example.com', path: '/x' }, expected: 'wild-shop' },
  { name: 'wildcard suffix must start at a label', input: { host: 'notexample.com', path: '/x' }, expected: 'any' },
  { name: 'exact host beats the wildcard', input: { host: 'api.example.com', path: '/' }, expected: 'api' },
  { name: 'an exact host without a matching prefix falls to the wildcard', input: { host: 'static.example.com', path: '/x' }, expected: 'wild' },
  { name: 'an exact host with a matching prefix', input: { host: 'static.example.com', path: '/assets/a.css' }, expected: 'static-assets' },
  { name: 'a host route beats a longer any-host prefix', input: { host: 'api.example.com', path: '/api/v2/x' }, expected: 'api' },
  { name: 'unknown host uses any-host routes', input: { host: 'other.test', path: '/x' }, expected: 'any' },
  { name: 'longest prefix wins', input: { host: 'other.test', path: '/api/v2/users' }, expected: 'any-api-v2' },
  { name: 'a shorter prefix when the longer does not match', input: { host: 'other.test', path: '/api/v1' }, expected: 'any-api' },
  { name: 'prefixes are plain string prefixes', input: { host: 'other.test', path: '/apis' }, expected: 'any-api' },
  { name: 'first declared wins on equal prefixes', input: { host: 'other.test', path: '/dup/x' }, expected: 'dup-first' },
  { name: 'paths are case-sensitive', input: { host: 'other.test', path: '/API/v2/x' }, expected: 'any' },
  { name: 'an empty host uses any-host routes', input: { host: '', path: '/x' }, expected: 'any' }
]

for (const c of cases) {
  test(`match: ${c.name}`, () => {
    assert.equal(router.match(c.input.host, c.input.path), c.expected)
  })
}

const noMatch: Array<{ name: string, input: { entries: ReadonlyArray<RouteEntry<string>>, host: string, path: string }, expected: undefined }> = [
  { name: 'no routes at all', input: { entries: [], host: 'a.test', path: '/' }, expected: undefined },
  { name: 'no prefix matches', input: { entries: [{ prefix: '/api/', value: 'api' }], host: 'a.test', path: '/web' }, expected: undefined },
  { name: 'only another host has routes', input: { entries: [{ host: 'a.test', prefix: '/', value: 'a' }], host: 'b.test', path: '/' }, expected: undefined },
  { name: 'the prefix is longer than the path', input: { entries: [{ prefix: '/api/', value: 'api' }], host: 'a.test', path: '/api' }, expected: undefined }
]

for (const c of noMatch) {
  test(`no match → undefined: ${c.name}`, () => {
    assert.equal(createRouter(c.input.entries).match(c.input.host, c.input.path), c.expected)
  })
}

test('route hosts are normalised like request hosts (case, port, trailing dot)', () => {
  const r = createRouter([{ host: 'Api.Example.com.', prefix: '/', value: 'a' }, { host: 'B.test:8080', prefix: '/', value: 'b' }])
  assert.equal(r.match('api.example.com', '/'), 'a')
  assert.equal(r.match('b.test', '/'), 'b')
})

test('the router does not change its entries', () => {
  const entries = [{ prefix: '/', value: 'x' }, { prefix: '/a/', value: 'y' }]
  createRouter(entries)
  assert.deepEqual(entries, [{ prefix: '/', value: 'x' }, { prefix: '/a/', value: 'y' }])
})

const hosts: Array<{ name: string, input: string, expected: string }> = [
  { name: 'plain', input: 'example.com', expected: 'example.com' },
  { name: 'upper case and port', input: 'Example.COM:8080', expected: 'example.com' },
  { name: 'trailing dot', input: 'example.com.', expected: 'example.com' },
  { name: 'IPv4 with port', input: '127.0.0.1:80', expected: '127.0.0.1' },
  { name: 'IPv6 literal with port', input: '[::1]:80', expected: '[::1]' },
  { name: 'IPv6 literal without port', input: '[::1]', expected: '[::1]' },
  { name: 'empty', input: '', expected: '' }
]

for (const c of hosts) {
  test(`hostname: ${c.name}`, () => {
    assert.equal(hostname(c.input), c.expected)
  })
}
