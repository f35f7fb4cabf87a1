// The worker's side: what one finished request adds, that collect() hands over each increment once, and the
// kernel socket table read for open connections.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { WorkerMetrics, establishedByPort, bucketOf, type MetricsDelta } from '../../../src/metrics/index.ts'
import { Exchange, type Downstream } from '../../../src/pipeline/index.ts'
import type { Config } from '../../../src/config/index.ts'

const sink: Downstream = { onDrain: null, start () {}, write () { return true }, end () {}, abort () {}, reply () {} }
const target = { index: 0, url: 'http://127.0.0.1:9001', weight: 1, inflight: 0, healthy: true }
const route = { id: '/api', upstream: 'web', stages: [] }

function answered (status: number, o: { code?: 'SWY_RATE_LIMITED', ttfb?: number, cache?: string } = {}): Exchange {
  const ex = new Exchange({
    method: 'GET', path: '/api/x', query: '', host: 'a', headers: [], contentLength: -1, contentLengthCount: 0, chunked: false,
    peerIp: '192.0.2.7', tls: false, startTime: 100, body: null, downstream: sink, replies: { reply () {}, fault () {} }, onComplete: () => {}
  })
  ex.route = route
  ex.status = status
  ex.bytesSent = 10
  if (o.code !== undefined) ex.errorCode = o.code
  if (o.ttfb !== undefined) { ex.target = target; ex.upstreamTtfb = o.ttfb }
  if (o.cache !== undefined) ex.cacheStatus = o.cache
  return ex
}

const counter = (d: MetricsDelta, fam: string, labels: string[]): number | undefined =>
  d.counters.find(([f, l]) => f === fam && l.join('|') === labels.join('|'))?.[2]

test('a finished request moves its route\'s counters and histograms; collect hands each increment over once', () => {
  const config = { routes: [{ match: { path: '/api' }, upstream: 'web', rate_limit: {} }] } as unknown as Config
  const m = new WorkerMetrics(config)
  m.completed(answered(200, { ttfb: 0.4, cache: 'HIT' }), 100.2)
  m.completed(answered(200, { ttfb: 3 }), 105)
  m.completed(answered(429, { code: 'SWY_RATE_LIMITED' }), 100.1)
  m.upstream('web').failure(target, 'SWY_UPSTREAM_UNREACHABLE')
  m.upstream('web').retry(target)
  const d = m.collect({ inflight: 2 })
  assert.equal(counter(d, 'requests', ['/api', 'web', '200']), 2)
  assert.equal(counter(d, 'requests', ['/api', 'web', '429']), 1)
  assert.equal(counter(d, 'rateLimited', ['/api']), 1)
  assert.equal(counter(d, 'rateAdmitted', ['/api']), 2)
  assert.equal(counter(d, 'cache', ['/api', 'hit']), 1)
  assert.equal(counter(d, 'bytesOut', ['/api']), 30)
  assert.equal(counter(d, 'connectFailures', ['web', target.url]), 1)
  assert.equal(counter(d, 'retries', ['web', target.url]), 1)
  const duration = d.histograms.find(([f]) => f === 'duration')!
  assert.equal(duration[2][bucketOf(0.2)], 2, '0.2 ms and 0.1 ms: the first bucket (≤ 0.25 ms)')
  assert.equal(duration[2][bucketOf(5)], 1)
  assert.equal(duration[2].reduce((a, b) => a + b, 0), 3)
  const ttfb = d.histograms.find(([f]) => f === 'ttfb')!
  assert.deepEqual(ttfb[1], ['web', target.url])
  assert.equal(ttfb[2].reduce((a, b) => a + b, 0), 2)
  assert.deepEqual(d.gauges.find(([f]) => f === 'inflight'), ['inflight', [], 2])
  // Nothing is handed over twice.
  const again = m.collect({ inflight: 0 })
  assert.equal(counter(again, 'requests', ['/api', 'web', '200']), undefined)
  assert.equal(again.histograms.length, 0)
  m.close()
})

test('open connections per listener port from the kernel\'s socket table (ESTABLISHED only, IPv4 and IPv6)', () => {
  const tcp = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0',
    '   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1',
    '   2: 0100007F:1F90 0100007F:D2F2 06 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1',
    '   3: 0100007F:1F91 0100007F:D2F4 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0 20 4 30 10 -1'
  ].join('\n')
  const tcp6 = [
    '  sl  local_address                         remote_address                        st',
    '   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:C000 01 00000000:00000000'
  ].join('\n')
  const got = establishedByPort([8080, 9000], (f) => f.endsWith('6') ? tcp6 : tcp)
  assert.deepEqual([...got], [[8080, 2], [9000, 0]])
})
