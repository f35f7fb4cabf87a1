// Which Location / Content-Location targets an unsafe request may invalidate besides its own URL (RFC 9111 §4.4):
// only those of the request's origin, as cache URLs (`host/path?query`).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { sameOrigin } from '../../../src/cache/origin.ts'

const cases: Array<[target: string, url: string, tls: boolean, expected: string | undefined, why: string]> = [
  ['/items/7', 'shop.test/items', false, 'shop.test/items/7', 'absolute path'],
  ['7', 'shop.test/items/', false, 'shop.test/items/7', 'relative to the request path'],
  ['../a?b=1', 'shop.test/x/y/z', false, 'shop.test/x/a?b=1', 'dot segments resolved, query kept'],
  ['http://shop.test/items/7', 'shop.test/items', false, 'shop.test/items/7', 'absolute URL, same origin'],
  ['http://SHOP.test/items/7', 'shop.test/items', false, 'shop.test/items/7', 'host case ignored'],
  ['http://shop.test:8080/items/7', 'shop.test:8080/items', false, 'shop.test:8080/items/7', 'same port'],
  ['http://shop.test/items/7', 'shop.test:8080/items', false, undefined, 'another port is another origin'],
  ['http://other.test/items/7', 'shop.test/items', false, undefined, 'another host'],
  ['https://shop.test/items/7', 'shop.test/items', false, undefined, 'another scheme'],
  ['https://shop.test/items/7', 'shop.test/items', true, 'shop.test/items/7', 'https request, https target'],
  ['//other.test/x', 'shop.test/items', false, undefined, 'scheme-relative to another host'],
  ['http://[::1', 'shop.test/items', false, undefined, 'not a URL']
]

for (const [target, url, tls, expected, why] of cases) {
  test(`sameOrigin: ${why}`, () => {
    assert.equal(sameOrigin(target, url, tls), expected)
  })
}
