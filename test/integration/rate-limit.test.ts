// Per-route rate limits through a real proxy (one worker, embedded state): the burst, the 429 and its headers,
// per-user keys, and routes without a limit left alone.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBackend, startProxy, echo } from '../helpers/index.ts'

test('rate 10/s, burst 5: a quick burst of 20 admits the burst (plus what the elapsed time refilled), the rest get 429', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, {
    upstreams: { web: { servers: [{ url: backend.url }] } },
    routes: [
      { match: { path: '/limited' }, upstream: 'web', rate_limit: { key: 'ip', rate: '10/s', burst: 5 } },
      { upstream: 'web' }
    ],
    log: { access: false }
  })
  const start = Date.now()
  const answers = await Promise.all(Array.from({ length: 20 }, async () => {
    const res = await fetch(`${proxy.url}/limited`)
    return { status: res.status, headers: res.headers, body: await res.text() }
  }))
  const elapsedS = (Date.now() - start) / 1000
  const admitted = answers.filter((a) => a.status === 200).length
  assert.equal(answers.filter((a) => a.status !== 200 && a.status !== 429).length, 0)
  // The bucket starts full (5) and gains 10/s while the burst is in flight; the lease never adds tokens of its own.
  assert.ok(admitted >= 5 && admitted <= 5 + Math.ceil(10 * elapsedS) + 1, `admitted ${admitted} in ${elapsedS} s`)

  const refused = answers.find((a) => a.status === 429)
  assert.ok(refused !== undefined)
  const retry = Number(refused.headers.get('retry-after'))
  assert.equal(retry, 1, 'a token comes within 100 ms; Retry-After rounds up to whole seconds')
  assert.equal(refused.headers.get('ratelimit-policy'), '10;w=1')
  assert.equal(refused.headers.get('ratelimit'), `limit=10, remaining=0, reset=${retry}`)
  assert.match(refused.headers.get('x-request-id') ?? '', /.+/)
  const body = JSON.parse(refused.body) as { error: string, request_id: string }
  assert.equal(body.error, 'SWY_RATE_LIMITED')
  assert.equal(body.request_id, refused.headers.get('x-request-id'))

  // A route without rate_limit is not limited.
  const free = await Promise.all(Array.from({ length: 30 }, async () => (await fetch(`${proxy.url}/other`)).status))
  assert.deepEqual(free, Array(30).fill(200))
})

test('key header:X-User: one user running out does not limit another', async (t) => {
  const backend = await startBackend(t, echo())
  const proxy = await startProxy(t, {
    upstreams: { web: { servers: [{ url: backend.url }] } },
    routes: [{ upstream: 'web', rate_limit: { key: 'header:X-User', rate: '1/m', burst: 3 } }],
    log: { access: false }
  })
  const as = async (user: string, n: number): Promise<number[]> => {
    const out: number[] = []
    for (let i = 0; i < n; i++) {
      const res = await fetch(`${proxy.url}/x`, { headers: { 'x-user': user } })
      await res.arrayBuffer()
      out.push(res.status)
    }
    return out
  }
  // 1/m refills one token a minute: within this test, exactly the burst.
  assert.deepEqual(await as('alice', 6), [200, 200, 200, 429, 429, 429])
  assert.deepEqual(await as('bob', 4), [200, 200, 200, 429])
  const res = await fetch(`${proxy.url}/x`, { headers: { 'x-user': 'alice' } })
  assert.equal(res.status, 429)
  assert.equal(res.headers.get('ratelimit-policy'), '1;w=60')
  const reset = Number(res.headers.get('retry-after'))
  assert.ok(reset > 1 && reset <= 60, `Retry-After ${reset}`)
})
