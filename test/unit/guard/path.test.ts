// normalisePath: dot segments (also percent-encoded), unreserved decoding, refusals (encoded slash, backslash, NUL,
// above the root, `..;`), slash merging, and the fast path returning the very same string.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { normalisePath, type PathOptions } from '../../../src/guard/index.ts'

const strict: PathOptions = { allowEncodedSlash: false, mergeSlashes: true }

const cases: Array<{ name: string, input: string, options?: PathOptions, expected: string | undefined }> = [
  { name: 'plain path unchanged', input: '/api/v1/users', expected: '/api/v1/users' },
  { name: 'root', input: '/', expected: '/' },
  { name: 'a dot inside a segment is plain', input: '/static/app.min.js', expected: '/static/app.min.js' },
  { name: 'a dot-file segment is kept', input: '/.well-known/acme', expected: '/.well-known/acme' },
  { name: 'dot-dot climbs one segment', input: '/public/../admin', expected: '/admin' },
  { name: 'dot-dot at the end keeps the slash', input: '/a/b/..', expected: '/a/' },
  { name: 'single dots vanish', input: '/a/./b/.', expected: '/a/b/' },
  { name: 'encoded dot-dot, lower case', input: '/public/%2e%2e/admin', expected: '/admin' },
  { name: 'encoded dot-dot, upper case', input: '/public/%2E%2E/admin', expected: '/admin' },
  { name: 'half-encoded dot-dot', input: '/public/.%2e/admin', expected: '/admin' },
  { name: 'encoded single dot', input: '/a/%2e/b', expected: '/a/b' },
  { name: 'unreserved characters are decoded', input: '/%7Euser/%41%62%63-%5f', expected: '/~user/Abc-_' },
  { name: 'reserved escapes stay, hex upper-cased', input: '/a%3fb/c%20d/%c3%a9', expected: '/a%3Fb/c%20d/%C3%A9' },
  { name: '%25 is not decoded twice', input: '/a/%252e%252e/b', expected: '/a/%252e%252e/b' },
  { name: 'encoded CR LF stay encoded', input: '/a%0d%0aSet-Cookie:x', expected: '/a%0D%0ASet-Cookie:x' },
  { name: 'double slash merged', input: '//admin//x', expected: '/admin/x' },
  { name: 'trailing double slash keeps one', input: '/a//', expected: '/a/' },
  { name: 'double slash kept when not merging', input: '//admin', options: { allowEncodedSlash: false, mergeSlashes: false }, expected: '//admin' },
  { name: 'dot-dot after an empty segment (not merging)', input: '/a//../b', options: { allowEncodedSlash: false, mergeSlashes: false }, expected: '/a/b' },
  { name: 'non-ASCII passes as is', input: '/café/ü', expected: '/café/ü' },
  { name: 'refused: climbs above the root', input: '/../etc/passwd', expected: undefined },
  { name: 'refused: climbs above the root later', input: '/a/../../b', expected: undefined },
  { name: 'refused: encoded climb above the root', input: '/%2e%2e/x', expected: undefined },
  { name: 'refused: encoded slash', input: '/a%2Fb', expected: undefined },
  { name: 'refused: encoded slash, lower case', input: '/a%2fb', expected: undefined },
  { name: 'encoded slash kept when allowed', input: '/a%2fb/../c', options: { allowEncodedSlash: true, mergeSlashes: true }, expected: '/c' },
  { name: 'encoded slash kept, upper-cased', input: '/a%2fb', options: { allowEncodedSlash: true, mergeSlashes: true }, expected: '/a%2Fb' },
  { name: 'refused: raw backslash', input: '/public\\..\\admin', expected: undefined },
  { name: 'refused: encoded backslash', input: '/public%5c..%5cadmin', expected: undefined },
  { name: 'refused: encoded NUL', input: '/a%00.txt', expected: undefined },
  { name: 'refused: raw NUL', input: '/a\u0000b', expected: undefined },
  { name: 'refused: raw control character', input: '/a\u0001b', expected: undefined },
  { name: 'refused: fragment', input: '/a#b', expected: undefined },
  { name: 'refused: truncated escape', input: '/a%2', expected: undefined },
  { name: 'refused: bad hex', input: '/a%zz', expected: undefined },
  { name: 'refused: Tomcat path parameter on dot-dot', input: '/public/..;/admin', expected: undefined },
  { name: 'refused: Tomcat path parameter on dot', input: '/public/.;x/admin', expected: undefined },
  { name: 'a semicolon elsewhere passes', input: '/app/page;jsessionid=1', expected: '/app/page;jsessionid=1' }
]

for (const c of cases) {
  test(`normalisePath: ${c.name}`, () => {
    assert.equal(normalisePath(c.input, c.options ?? strict), c.expected)
  })
}

test('normalisePath: an unchanged path comes back as the same string (no copy)', () => {
  const p = `/api/${'x'.repeat(3)}/items`
  assert.equal(Object.is(normalisePath(p, strict), p), true)
  const dotted = '/.well-known/x'
  assert.equal(Object.is(normalisePath(dotted, strict), dotted), true)
})
