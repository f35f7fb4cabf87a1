// Field parsers under the cache policy: Cache-Control (RFC 9111 §5.2), delta-seconds (§1.2.2), HTTP-date
// (RFC 9110 §5.6.7), Vary names (§4.1) and list membership (Pragma, §5.4).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { listHas, parseCacheControl, parseDeltaSeconds, parseHttpDate } from '../../../src/cache/cache-control.ts'
import { parseVary } from '../../../src/cache/policy.ts'

const ccCases: Array<{ name: string, input: string | undefined, expected: Array<[string, string | true]> }> = [
  { name: 'absent field: no directives', input: undefined, expected: [] },
  { name: 'empty field', input: '', expected: [] },
  { name: '§5.2 names are case-insensitive, stored lower-case', input: 'Max-Age=60, NO-STORE', expected: [['max-age', '60'], ['no-store', true]] },
  { name: '§5.2 quoted argument is unquoted', input: 'max-age="60"', expected: [['max-age', '60']] },
  { name: 'RFC 9110 §5.6.4 backslash escapes in a quoted-string', input: 'x="a\\"b"', expected: [['x', 'a"b']] },
  { name: 'quoted commas do not split members', input: 'private="set-cookie, x-a", max-age=5', expected: [['private', 'set-cookie, x-a'], ['max-age', '5']] },
  { name: 'RFC 9110 §5.6.1 empty list members and whitespace are skipped', input: ' , ,public,, max-age=1 ,', expected: [['public', true], ['max-age', '1']] },
  { name: 'whitespace around = is tolerated', input: 'max-age = 30', expected: [['max-age', '30']] },
  { name: '§4.2.1 the first of repeated directives wins', input: 'max-age=10, max-age=20', expected: [['max-age', '10']] },
  { name: 'junk after an argument is skipped up to the next comma', input: 'max-age=60 junk, public', expected: [['max-age', '60'], ['public', true]] },
  { name: 'junk after a token is skipped up to the next comma', input: 'public junk junk, no-cache', expected: [['public', true], ['no-cache', true]] },
  { name: 'a member with no name is skipped', input: '=5, s-maxage=7', expected: [['s-maxage', '7']] },
  { name: 'an unterminated quote takes the rest', input: 'no-cache="set-cookie', expected: [['no-cache', 'set-cookie']] },
  { name: 'tabs are whitespace', input: 'public,\tmax-age=3', expected: [['public', true], ['max-age', '3']] },
  { name: 'an empty argument stays an empty string', input: 'max-age=', expected: [['max-age', '']] }
]

for (const c of ccCases) {
  test(`parseCacheControl: ${c.name}`, () => {
    assert.deepEqual([...parseCacheControl(c.input)], c.expected)
  })
}

const deltaCases: Array<{ name: string, input: string, expected: number | undefined }> = [
  { name: '§1.2.2 digits', input: '120', expected: 120 },
  { name: '§1.2.2 zero', input: '0', expected: 0 },
  { name: '§1.2.2 beyond 2^31 reads as 2^31', input: '99999999999999', expected: 2147483648 },
  { name: 'a sign is not a delta-seconds', input: '-1', expected: undefined },
  { name: 'a fraction is not a delta-seconds', input: '1.5', expected: undefined },
  { name: 'empty', input: '', expected: undefined },
  { name: 'letters', input: 'abc', expected: undefined }
]

for (const c of deltaCases) {
  test(`parseDeltaSeconds: ${c.name}`, () => {
    assert.equal(parseDeltaSeconds(c.input), c.expected)
  })
}

const T = Date.UTC(1994, 10, 6, 8, 49, 37)
const dateCases: Array<{ name: string, input: string | undefined, expected: number | undefined }> = [
  { name: 'RFC 9110 §5.6.7 IMF-fixdate', input: 'Sun, 06 Nov 1994 08:49:37 GMT', expected: T },
  { name: 'RFC 9110 §5.6.7 obsolete RFC 850 form', input: 'Sunday, 06-Nov-94 08:49:37 GMT', expected: T },
  { name: 'RFC 9110 §5.6.7 RFC 850 two-digit year below 70 is 20xx', input: 'Monday, 06-Nov-23 08:49:37 GMT', expected: Date.UTC(2023, 10, 6, 8, 49, 37) },
  { name: 'RFC 9110 §5.6.7 obsolete asctime form is GMT', input: 'Sun Nov  6 08:49:37 1994', expected: T },
  { name: 'lenient: a one-digit day', input: 'Sun, 6 Nov 1994 08:49:37 GMT', expected: T },
  { name: 'lenient: UTC for GMT', input: 'Sun, 06 Nov 1994 08:49:37 UTC', expected: T },
  { name: 'surrounding whitespace is ignored', input: '  Sun, 06 Nov 1994 08:49:37 GMT ', expected: T },
  { name: 'month names case-insensitively', input: 'Sun, 06 NOV 1994 08:49:37 GMT', expected: T },
  { name: 'RFC 9111 §5.3 "0" is not a date', input: '0', expected: undefined },
  { name: 'a bare year is not a date', input: '2020', expected: undefined },
  { name: 'ISO 8601 is not an HTTP-date', input: '1994-11-06T08:49:37Z', expected: undefined },
  { name: 'a zone other than GMT is not an HTTP-date', input: 'Sun, 06 Nov 1994 08:49:37 PST', expected: undefined },
  { name: 'an impossible day is not a date', input: 'Thu, 31 Feb 1994 08:49:37 GMT', expected: undefined },
  { name: '29 Feb in a leap year is', input: 'Thu, 29 Feb 1996 00:00:00 GMT', expected: Date.UTC(1996, 1, 29) },
  { name: '29 Feb in a common year is not', input: 'Tue, 29 Feb 1994 00:00:00 GMT', expected: undefined },
  { name: 'hour 24 is not a time', input: 'Sun, 06 Nov 1994 24:00:00 GMT', expected: undefined },
  { name: 'an unknown month', input: 'Sun, 06 Foo 1994 08:49:37 GMT', expected: undefined },
  { name: 'a month-name fragment straddling two months', input: 'Sun, 06 anf 1994 08:49:37 GMT', expected: undefined },
  { name: 'absent', input: undefined, expected: undefined }
]

for (const c of dateCases) {
  test(`parseHttpDate: ${c.name}`, () => {
    assert.equal(parseHttpDate(c.input), c.expected)
  })
}

const varyCases: Array<{ name: string, input: string | undefined, expected: readonly string[] }> = [
  { name: 'absent', input: undefined, expected: [] },
  { name: '§4.1 names lower-cased and sorted', input: 'User-Agent, Accept-Encoding', expected: ['accept-encoding', 'user-agent'] },
  { name: '§4.1 duplicates and empty members dropped', input: 'accept, , Accept', expected: ['accept'] },
  { name: '§4.1 * anywhere is *', input: 'accept, *', expected: ['*'] },
  { name: 'empty value', input: ' ', expected: [] }
]

for (const c of varyCases) {
  test(`parseVary: ${c.name}`, () => {
    assert.deepEqual(parseVary(c.input), c.expected)
  })
}

const listCases: Array<{ name: string, input: [string, string], expected: boolean }> = [
  { name: '§5.4 Pragma: no-cache', input: ['no-cache', 'no-cache'], expected: true },
  { name: 'case-insensitive and in a list', input: ['foo, No-Cache ', 'no-cache'], expected: true },
  { name: 'a longer token does not match', input: ['no-cache-please', 'no-cache'], expected: false },
  { name: 'empty', input: ['', 'no-cache'], expected: false }
]

for (const c of listCases) {
  test(`listHas: ${c.name}`, () => {
    assert.equal(listHas(c.input[0], c.input[1]), c.expected)
  })
}
