// stripPrefix: what a route with strip_prefix forwards; the result always starts with /.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { stripPrefix } from '../../../src/router/index.ts'

const cases: Array<{ name: string, input: { path: string, prefix: string }, expected: string }> = [
  { name: 'prefix with trailing slash', input: { path: '/v1/users', prefix: '/v1/' }, expected: '/users' },
  { name: 'prefix without trailing slash', input: { path: '/v1/users', prefix: '/v1' }, expected: '/users' },
  { name: 'the bare prefix becomes /', input: { path: '/v1', prefix: '/v1' }, expected: '/' },
  { name: 'the bare prefix with its slash becomes /', input: { path: '/v1/', prefix: '/v1/' }, expected: '/' },
  { name: 'a deeper path keeps its rest', input: { path: '/api/v2/users/7/orders', prefix: '/api/v2/' }, expected: '/users/7/orders' },
  { name: 'prefix / changes nothing', input: { path: '/users', prefix: '/' }, expected: '/users' },
  { name: 'prefix / on the root', input: { path: '/', prefix: '/' }, expected: '/' },
  { name: 'a string prefix mid-segment gets a leading slash', input: { path: '/v1x/y', prefix: '/v1' }, expected: '/x/y' },
  { name: 'a trailing slash in the rest is kept', input: { path: '/v1/users/', prefix: '/v1/' }, expected: '/users/' },
  { name: 'double slashes after the prefix are kept', input: { path: '/v1//a', prefix: '/v1/' }, expected: '//a' },
  { name: 'encoded characters pass through', input: { path: '/v1/a%2Fb', prefix: '/v1/' }, expected: '/a%2Fb' }
]

for (const c of cases) {
  test(`stripPrefix: ${c.name} (${c.input.path} under ${c.input.prefix})`, () => {
    assert.equal(stripPrefix(c.input.path, c.input.prefix), c.expected)
  })
}
