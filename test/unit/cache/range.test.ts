// Range requests on a cached full object (RFC 9110 §14): parsing against the body size, coalescing, the DoS cap,
// Content-Range values and If-Range (§13.1.5).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { CacheEntry, RangeDecision } from '../../../src/cache/types.ts'
import { contentRange, ifRangeAllows, parseRange, unsatisfiedRange, MAX_RANGES } from '../../../src/cache/range.ts'

const ranges = (...r: Array<[number, number]>): RangeDecision => ({ kind: 'ranges', ranges: r })
const NONE: RangeDecision = { kind: 'none' }
const UNSAT: RangeDecision = { kind: 'unsatisfiable' }

const many = (n: number): string => 'bytes=' + Array.from({ length: n }, (_, i) => `${i * 10}-${i * 10 + 1}`).join(',')

const rangeCases: Array<{ name: string, input: { header: string | undefined, size: number }, expected: RangeDecision }> = [
  { name: 'no Range header', input: { header: undefined, size: 100 }, expected: NONE },
  { name: '§14.1.2 first-last', input: { header: 'bytes=0-9', size: 100 }, expected: ranges([0, 9]) },
  { name: '§14.1.2 first- (open end)', input: { header: 'bytes=90-', size: 100 }, expected: ranges([90, 99]) },
  { name: '§14.1.2 -suffix', input: { header: 'bytes=-10', size: 100 }, expected: ranges([90, 99]) },
  { name: '§14.1.2 a suffix longer than the body is the whole body', input: { header: 'bytes=-500', size: 100 }, expected: ranges([0, 99]) },
  { name: '§14.1.2 last-pos past the end is clamped', input: { header: 'bytes=50-1000', size: 100 }, expected: ranges([50, 99]) },
  { name: '§14.1.2 a single byte', input: { header: 'bytes=99-99', size: 100 }, expected: ranges([99, 99]) },
  { name: '§14.1 the unit is case-insensitive, whitespace tolerated', input: { header: 'Bytes = 0-1 , 5-6', size: 100 }, expected: ranges([0, 1], [5, 6]) },
  { name: '§14.1.2 multiple ranges keep request order', input: { header: 'bytes=50-59,0-9', size: 100 }, expected: ranges([50, 59], [0, 9]) },
  { name: '§14.2 overlapping ranges are coalesced', input: { header: 'bytes=0-49,40-59', size: 100 }, expected: ranges([0, 59]) },
  { name: '§14.2 adjacent ranges are coalesced', input: { header: 'bytes=0-9,10-19', size: 100 }, expected: ranges([0, 19]) },
  { name: '§14.2 a range bridging two earlier ones merges all three in the first slot', input: { header: 'bytes=50-59,0-9,8-52,90-', size: 100 }, expected: ranges([0, 59], [90, 99]) },
  { name: '§14.2 a suffix overlapping an explicit range', input: { header: 'bytes=80-89,-15', size: 100 }, expected: ranges([80, 99]) },
  { name: '§14.2 duplicate ranges collapse', input: { header: 'bytes=0-9,0-9,0-9', size: 100 }, expected: ranges([0, 9]) },
  { name: '§14.1.1 empty list members are ignored', input: { header: 'bytes=,0-1,,', size: 100 }, expected: ranges([0, 1]) },
  { name: '§14.1.2 unsatisfiable specs are dropped when another is satisfiable', input: { header: 'bytes=200-300,0-1', size: 100 }, expected: ranges([0, 1]) },
  { name: '§15.5.17 first-pos at the end: 416', input: { header: 'bytes=100-', size: 100 }, expected: UNSAT },
  { name: '§15.5.17 every spec out of bounds: 416', input: { header: 'bytes=100-200,300-400', size: 100 }, expected: UNSAT },
  { name: '§14.1.2 a zero suffix is unsatisfiable', input: { header: 'bytes=-0', size: 100 }, expected: UNSAT },
  { name: '§14.1.2 an int-range on an empty body: 416', input: { header: 'bytes=0-0', size: 0 }, expected: UNSAT },
  { name: '§14.1.2 a suffix on an empty body: the whole (empty) body, 200', input: { header: 'bytes=-5', size: 0 }, expected: NONE },
  { name: '§14.1.2 last < first is invalid: ignore Range', input: { header: 'bytes=9-0', size: 100 }, expected: NONE },
  { name: '§14.2 an unknown unit is ignored', input: { header: 'items=0-1', size: 100 }, expected: NONE },
  { name: 'malformed: no =', input: { header: 'bytes 0-1', size: 100 }, expected: NONE },
  { name: 'malformed: no dash', input: { header: 'bytes=5', size: 100 }, expected: NONE },
  { name: 'malformed: only a dash', input: { header: 'bytes=-', size: 100 }, expected: NONE },
  { name: 'malformed: letters', input: { header: 'bytes=a-b', size: 100 }, expected: NONE },
  { name: 'malformed: a negative first-pos', input: { header: 'bytes=--5', size: 100 }, expected: NONE },
  { name: 'malformed: one bad spec spoils the header', input: { header: 'bytes=0-1,x', size: 100 }, expected: NONE },
  { name: 'malformed: nothing after bytes=', input: { header: 'bytes=', size: 100 }, expected: NONE },
  { name: 'huge numbers do not overflow: first beyond the end', input: { header: 'bytes=99999999999999999999-', size: 100 }, expected: UNSAT },
  { name: 'huge numbers do not overflow: last clamped', input: { header: 'bytes=1-99999999999999999999', size: 100 }, expected: ranges([1, 99]) },
  { name: `DoS guard: ${MAX_RANGES} specs are served`, input: { header: many(MAX_RANGES), size: 1000 }, expected: ranges(...Array.from({ length: MAX_RANGES }, (_, i): [number, number] => [i * 10, i * 10 + 1])) },
  { name: `DoS guard: ${MAX_RANGES + 1} specs ignore Range (200)`, input: { header: many(MAX_RANGES + 1), size: 1000 }, expected: NONE }
]

for (const c of rangeCases) {
  test(`parseRange: ${c.name}`, () => {
    assert.deepEqual(parseRange(c.input.header, c.input.size), c.expected)
  })
}

const crCases: Array<{ name: string, input: [number, number, number], expected: string }> = [
  { name: '§14.4 a first part', input: [0, 9, 100], expected: 'bytes 0-9/100' },
  { name: '§14.4 the last byte', input: [99, 99, 100], expected: 'bytes 99-99/100' }
]

for (const c of crCases) {
  test(`contentRange: ${c.name}`, () => {
    assert.equal(contentRange(...c.input), c.expected)
  })
}

test('unsatisfiedRange: §14.4 416 carries bytes */size', () => {
  assert.equal(unsatisfiedRange(100), 'bytes */100')
})

const LM = 'Sun, 06 Nov 1994 08:49:37 GMT'
function entry (etag: string | undefined, lastModified: string | undefined): CacheEntry {
  return {
    status: 200, headers: [], body: new Uint8Array(0), requestTime: 0, responseTime: 0, initialAgeMs: 0, lifetimeMs: 0, swrMs: 0, sieMs: 0,
    mustRevalidate: false, noCache: false, etag, lastModified, tags: [], vary: [], url: 'a.test/x'
  }
}

const ifRangeCases: Array<{ name: string, input: { ifRange: string | undefined, etag?: string, lastModified?: string }, expected: boolean }> = [
  { name: 'no If-Range: the Range applies', input: { ifRange: undefined }, expected: true },
  { name: '§13.1.5 strong ETag match', input: { ifRange: '"v1"', etag: '"v1"' }, expected: true },
  { name: '§13.1.5 ETag mismatch', input: { ifRange: '"v2"', etag: '"v1"' }, expected: false },
  { name: '§13.1.5 a weak tag in If-Range never matches', input: { ifRange: 'W/"v1"', etag: 'W/"v1"' }, expected: false },
  { name: '§13.1.5 a weak entry ETag never matches', input: { ifRange: '"v1"', etag: 'W/"v1"' }, expected: false },
  { name: '§13.1.5 an entity-tag against an entry without one', input: { ifRange: '"v1"', lastModified: LM }, expected: false },
  { name: '§13.1.5 exact Last-Modified date', input: { ifRange: LM, lastModified: LM }, expected: true },
  { name: '§13.1.5 the same instant in another date form', input: { ifRange: 'Sunday, 06-Nov-94 08:49:37 GMT', lastModified: LM }, expected: true },
  { name: '§13.1.5 a different date', input: { ifRange: 'Sun, 06 Nov 1994 08:49:38 GMT', lastModified: LM }, expected: false },
  { name: '§13.1.5 a date against an entry without Last-Modified', input: { ifRange: LM, etag: '"v1"' }, expected: false },
  { name: '§13.1.5 neither a tag nor a date', input: { ifRange: 'junk', lastModified: LM }, expected: false }
]

for (const c of ifRangeCases) {
  test(`ifRangeAllows: ${c.name}`, () => {
    assert.equal(ifRangeAllows(c.input.ifRange, entry(c.input.etag, c.input.lastModified)), c.expected)
  })
}
