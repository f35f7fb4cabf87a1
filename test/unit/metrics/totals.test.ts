// The primary's totals and the percentiles the dashboard shows: deltas only add, gauges follow live workers, and
// quantiles come from bucket counts that add across hosts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MetricsTotals, quantile, addCounts, BUCKETS, bucketOf, type MetricsDelta } from '../../../src/metrics/index.ts'

const NB = BUCKETS.length + 1
const delta = (n: number, inflight: number): MetricsDelta => ({
  counters: [['requests', ['/', 'web', '200'], n]],
  histograms: [['duration', ['/', 'web'], [n, ...new Array<number>(NB - 1).fill(0)], n * 0.0001]],
  gauges: [['inflight', [], inflight], ['rss', [], 1000], ['bans', [], 3]]
})

test('totals add every delta, whichever worker sent it; a dead worker\'s gauges go, its counts stay', () => {
  const t = new MetricsTotals()
  t.add(1, delta(5, 2))
  t.add(2, delta(3, 4))
  t.add(1, delta(1, 1))
  assert.equal(t.counter('switchyard_requests_total')[0]?.value, 9)
  assert.equal(t.histogram('switchyard_request_duration_seconds')[0]?.counts[0], 9)
  assert.equal(t.gauge('inflight')[0]?.value, 5, 'latest level of each worker, summed')
  assert.equal(t.gauge('bans')[0]?.value, 3, 'a copy every worker holds: the max, not the sum')
  assert.deepEqual(t.gauge('rss').map((s) => s.labels), [['1'], ['2']])
  t.forget(2)
  assert.equal(t.gauge('inflight')[0]?.value, 1)
  assert.equal(t.counter('switchyard_requests_total')[0]?.value, 9)
})

test('malformed deltas are skipped, never added', () => {
  const t = new MetricsTotals()
  t.add(1, { counters: [['requests', ['/', 'web', '200'], -5], ['requests', ['/', 'web', '200'], Number.NaN], ['nope' as 'requests', [], 1]], histograms: [['duration', ['/', 'web'], [1, 2], 1]], gauges: [] })
  assert.deepEqual(t.counter('switchyard_requests_total'), [])
  assert.deepEqual(t.histogram('switchyard_request_duration_seconds'), [])
})

const cases = [
  { name: 'empty', counts: new Array<number>(NB).fill(0), q: 0.5, expected: null },
  { name: 'all in the first bucket (≤ 0.25 ms): interpolated within it', counts: [4, ...new Array<number>(NB - 1).fill(0)], q: 0.5, expected: 0.000125 },
  { name: 'p99 of 99 fast and 1 slow lands in the fast bucket\'s top', counts: [99, ...new Array<number>(NB - 2).fill(0), 0].map((v, i) => i === 6 ? 1 : v), q: 0.99, expected: 0.00025 },
  { name: 'past the last bound: the bound', counts: [...new Array<number>(NB - 1).fill(0), 3], q: 0.5, expected: 60 }
]
for (const c of cases) {
  test(`quantile: ${c.name}`, () => {
    const got = quantile(c.counts, c.q)
    if (c.expected === null) assert.equal(got, null)
    else assert.ok(Math.abs(got! - c.expected) < 1e-12, `${String(got)} ≠ ${c.expected}`)
  })
}

test('fleet percentiles come from summed buckets, not averaged percentiles', () => {
  const fast = new Array<number>(NB).fill(0)
  fast[bucketOf(0.2)] = 90 // 90 requests ≤ 0.25 ms on one host
  const slow = new Array<number>(NB).fill(0)
  slow[bucketOf(800)] = 10 // 10 requests of 0.5–1 s on another
  const p50 = (quantile(fast, 0.5)! + quantile(slow, 0.5)!) / 2
  const merged = quantile(addCounts(fast, slow), 0.5)!
  assert.ok(merged <= 0.00025, `the fleet median is a fast request (${merged})`)
  assert.ok(p50 > 0.2, 'averaging the hosts\' medians would have said a quarter of a second')
})
