// The cache shared by two Switchyard instances (two "hosts", 2 workers each) on one redis-server: concurrent misses
// anywhere coalesce into one backend request, a purge through one admin API reaches every worker of both, Range is
// answered from an entry another host stored, and a Redis outage turns into a bypass (never an error).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { startBackend, startProxy, request, waitFor, type ProxyHandle } from '../helpers/index.ts'
import { startRedis } from '../helpers/redis.ts'

const run = promisify(execFile)

type Ctx = Parameters<typeof startProxy>[0]

interface Counting {
  readonly url: string
  count (path: string): number
  /** What the backend serves next for a path: bumped to tell old copies from new ones. */
  version: number
}

async function countingBackend (t: Ctx, answer: (path: string, v: number, req: IncomingMessage, res: ServerResponse) => void): Promise<Counting> {
  const counts = new Map<string, number>()
  const b: Counting = {
    url: '',
    count: (p) => counts.get(p) ?? 0,
    version: 1
  }
  const backend = await startBackend(t, (req, res) => {
    const path = req.url!.split('?')[0]!
    counts.set(path, (counts.get(path) ?? 0) + 1)
    req.resume()
    answer(path, b.version, req, res)
  })
  ;(b as { url: string }).url = backend.url
  return b
}

async function twoHosts (t: Ctx, redisUrl: string, backendUrl: string): Promise<[ProxyHandle, ProxyHandle]> {
  const config = {
    workers: 2,
    upstreams: { web: { servers: [{ url: backendUrl }] } },
    routes: [{ upstream: 'web', cache: { lock_timeout: '5s' } }],
    state: { redis: redisUrl, prefix: 'cachetest', timeout: '250ms' },
    log: { access: false }
  }
  return await Promise.all([startProxy(t, config), startProxy(t, config)])
}

/** Purge through an admin API; resolves the JSON answer. */
async function purge (p: ProxyHandle, selector: Record<string, string>): Promise<{ purged: number }> {
  const res = await fetch(`${p.adminUrl}/api/cache/purge`, { method: 'POST', body: JSON.stringify(selector), headers: { 'content-type': 'application/json' } })
  assert.equal(res.status, 200, await res.clone().text())
  return await res.json() as { purged: number }
}

test('200 concurrent requests for one cold URL over 2 instances × 2 workers: the backend sees exactly 1', async (t) => {
  const redis = await startRedis(t)
  const backend = await countingBackend(t, (_path, v, _req, res) => {
    // Slow enough that every request arrives while the one fetch is in flight.
    setTimeout(() => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' })
      res.end(`cold v${v}`)
    }, 300)
  })
  const [a, b] = await twoHosts(t, redis.url, backend.url)
  // One Host for both instances: a key is route, Host and path, so clients of both ask for one object.
  const results = await Promise.all(Array.from({ length: 200 }, async (_, i) => await request(`${(i % 2 === 0 ? a : b).url}/cold?q=1`, { headers: { host: 'cold.test' } })))
  const xcache = new Map<string, number>()
  for (const r of results) xcache.set(String(r.headers['x-cache']), (xcache.get(String(r.headers['x-cache'])) ?? 0) + 1)
  t.diagnostic(`X-Cache: ${JSON.stringify(Object.fromEntries(xcache))}`)
  assert.ok(results.every((r) => r.status === 200 && r.body === 'cold v1'), 'every request answered with the one response')
  assert.equal(backend.count('/cold'), 1, 'exactly one backend request')
  assert.equal(xcache.get('MISS'), 1, 'one MISS (the fetcher); every other request was served from the new entry')
})

test('HEAD and GET mixed, 100 each, for one cold URL over 2 instances: one backend GET; the HEADs get the length, the GETs the body', async (t) => {
  const redis = await startRedis(t)
  const methods: string[] = []
  const backend = await countingBackend(t, (_path, v, req, res) => {
    methods.push(req.method!)
    setTimeout(() => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' })
      res.end(`mixed v${v}`)
    }, 300)
  })
  const [a, b] = await twoHosts(t, redis.url, backend.url)
  // HEADs first in each pair, so a HEAD is as likely as a GET to become the fetcher.
  const results = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
    const method = i % 2 === 0 ? 'HEAD' : 'GET'
    return { method, r: await request(`${(i % 4 < 2 ? a : b).url}/mixed`, { method, headers: { host: 'mixed.test' } }) }
  }))
  assert.deepEqual(methods, ['GET'], 'one backend request, a GET')
  for (const { method, r } of results) {
    assert.equal(r.status, 200)
    if (method === 'HEAD') assert.deepEqual([r.body, r.headers['content-length']], ['', '8'])
    else assert.equal(r.body, 'mixed v1')
  }
  assert.equal(results.filter(({ r }) => r.headers['x-cache'] === 'MISS').length, 1, 'one MISS')
})

test('the fetcher dies with the lock held: a waiter takes over once the lock expires', async (t) => {
  const redis = await startRedis(t)
  let hang = true
  const backend = await countingBackend(t, (_path, v, _req, res) => {
    if (hang) { hang = false; return } // the first request never gets an answer: its worker is killed meanwhile
    res.writeHead(200, { 'cache-control': 'max-age=60' })
    res.end(`v${v}`)
  })
  const config = {
    workers: 1,
    upstreams: { web: { servers: [{ url: backend.url }] } },
    routes: [{ upstream: 'web', cache: { lock_timeout: '1s' } }],
    state: { redis: redis.url, prefix: 'cachetest2' },
    log: { access: false }
  }
  const [a, b] = await Promise.all([startProxy(t, config), startProxy(t, config)])
  const h = { host: 'orphan.test' }
  const first = request(`${a.url}/orphan`, { headers: h }).catch((err: Error) => err)
  await waitFor(() => backend.count('/orphan') === 1, 'the first fetch to reach the backend', 5000, 10)
  const waiter = request(`${b.url}/orphan`, { headers: h })
  // Give the waiter time to find the lock held, then kill the fetcher's worker.
  await new Promise((resolve) => setTimeout(resolve, 200))
  for (const pid of a.workerPids()) process.kill(pid, 'SIGKILL')
  const r = await waiter
  assert.equal(r.status, 200)
  assert.equal(r.body, 'v1')
  assert.equal(backend.count('/orphan'), 2, 'the waiter fetched once the dead holder\'s lock expired')
  assert.ok(await first instanceof Error, 'the killed worker\'s client saw its connection cut')
})

test('purge by url, prefix and tag through one instance: every worker of both instances misses within 1 s', async (t) => {
  const redis = await startRedis(t)
  const backend = await countingBackend(t, (path, v, _req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600', 'surrogate-key': path.startsWith('/tagged') ? 'shelf product-7' : 'other', 'cache-tag': 'all' })
    res.end(`${path} v${v}`)
  })
  const [a, b] = await twoHosts(t, redis.url, backend.url)
  const paths = ['/exact?x=1', '/dir/one', '/dir/two', '/tagged/a', '/tagged/b', '/kept']
  // One Host for both instances, so they share keys (a key is route, host and path).
  const h = { host: 'shop.test' }
  const get = async (p: ProxyHandle, path: string): Promise<string> => (await request(`${p.url}${path}`, { headers: h })).body
  // 12 requests per path and instance on fresh connections: every worker holds a memory copy.
  for (const p of paths) {
    for (const x of [a, b]) {
      for (let i = 0; i < 12; i++) assert.equal(await get(x, p), `${p.split('?')[0]!} v1`)
    }
  }
  assert.ok(paths.every((p) => backend.count(p.split('?')[0]!) === 1), 'warmed with one backend request per path')
  const cases: Array<{ selector: Record<string, string>, gone: string[], purged: number }> = [
    { selector: { url: 'shop.test/exact?x=1' }, gone: ['/exact?x=1'], purged: 1 },
    { selector: { prefix: 'http://SHOP.test/dir/' }, gone: ['/dir/one', '/dir/two'], purged: 2 },
    { selector: { tag: 'product-7' }, gone: ['/tagged/a', '/tagged/b'], purged: 2 }
  ]
  for (const c of cases) {
    const v = ++backend.version
    const started = Date.now()
    const answer = await purge(a, c.selector)
    assert.equal(answer.purged, c.purged, JSON.stringify(answer))
    // Every worker of both instances must serve the new version: 8 in a row per path and instance, within 1 s.
    for (const p of c.gone) {
      for (const x of [a, b]) {
        await waitFor(async () => {
          for (let i = 0; i < 8; i++) if (await get(x, p) !== `${p.split('?')[0]!} v${v}`) return false
          return true
        }, `${p} on ${x.url} to show v${v} within 1 s of the purge`, Math.max(0, 1000 - (Date.now() - started)), 10)
      }
    }
    t.diagnostic(`${JSON.stringify(c.selector)}: every worker served the new version ${Date.now() - started} ms after the purge request`)
    // Untouched entries stay.
    const kept = await request(`${b.url}/kept`, { headers: h })
    assert.equal(kept.headers['x-cache'], 'HIT')
    assert.equal(kept.body, '/kept v1')
  }
  // A purge of nothing is fine; a bad selector is refused.
  assert.equal((await purge(b, { url: 'shop.test/none' })).purged, 0)
  const bad = await fetch(`${a.adminUrl}/api/cache/purge`, { method: 'POST', body: JSON.stringify({ url: 'x', tag: 'y' }) })
  assert.equal(bad.status, 400)
})

test('Range from an entry another instance stored: 206 and 416 from the cache', async (t) => {
  const redis = await startRedis(t)
  const body = Buffer.alloc(100_000, 'abcdefghij').toString()
  const backend = await countingBackend(t, (_path, _v, _req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600', 'content-type': 'video/mp4', etag: '"mv"' })
    res.end(body)
  })
  const config = {
    workers: 2,
    upstreams: { web: { servers: [{ url: backend.url }] } },
    // Both instances answer under one Host, so they share keys.
    routes: [{ upstream: 'web', cache: {} }],
    state: { redis: redis.url, prefix: 'cachetest3' },
    log: { access: false }
  }
  const [a, b] = await Promise.all([startProxy(t, config), startProxy(t, config)])
  const h = { host: 'media.test' }
  assert.equal((await request(`${a.url}/clip.mp4`, { headers: h })).body, body)
  // The client has the whole body a moment before the entry lands in Redis (it streams while being stored), and a
  // Range request that finds no entry goes to the backend as sent: wait for the shared entry first. The pattern ends
  // at the entry key's `}`: the fill lock (`{…}:lock`) exists from the start of the fill and is no sign of the entry.
  await waitFor(async () => (await run('redis-cli', ['-p', String(redis.port), '--scan', '--pattern', '{cachetest3:cache:*}'])).stdout.trim() !== '', 'the entry in the shared level')
  const r = await request(`${b.url}/clip.mp4`, { headers: { ...h, range: 'bytes=1000-1999' } })
  assert.equal(r.status, 206)
  assert.equal(r.headers['x-cache'], 'HIT')
  assert.equal(r.headers['content-range'], 'bytes 1000-1999/100000')
  assert.equal(r.body, body.slice(1000, 2000))
  const tail = await request(`${b.url}/clip.mp4`, { headers: { ...h, range: 'bytes=99990-' } })
  assert.equal(tail.status, 206)
  assert.equal(tail.body, body.slice(99_990))
  const none = await request(`${a.url}/clip.mp4`, { headers: { ...h, range: 'bytes=100000-' } })
  assert.equal(none.status, 416)
  assert.equal(none.headers['content-range'], 'bytes */100000')
  assert.equal(backend.count('/clip.mp4'), 1, 'every range came from the one stored object')
})

test('an entry refreshed on one instance replaces the stale copy in the other instance\'s memory: no second backend request', async (t) => {
  const redis = await startRedis(t)
  const backend = await countingBackend(t, (_path, v, _req, res) => {
    // v1 goes stale after 3 s but may be kept (and served stale) for 30 s more; v2 stays fresh for the rest of the
    // test. 3 s, not 1: B must copy v1 while it is fresh, and on a busy CI machine the wait for the shared entry took
    // more than a second (B got STALE).
    res.writeHead(200, { 'cache-control': v === 1 ? 'max-age=3, stale-while-revalidate=30' : 'max-age=60', 'content-type': 'text/plain' })
    res.end(`page v${v}`)
  })
  const config = {
    workers: 1,
    upstreams: { web: { servers: [{ url: backend.url }] } },
    routes: [{ upstream: 'web', cache: {} }],
    state: { redis: redis.url, prefix: 'cachetest5' },
    log: { access: false }
  }
  const [a, b] = await Promise.all([startProxy(t, config), startProxy(t, config)])
  const h = { host: 'fresh.test' }
  assert.equal((await request(`${a.url}/p`, { headers: h })).body, 'page v1')
  await waitFor(async () => (await run('redis-cli', ['-p', String(redis.port), '--scan', '--pattern', '{cachetest5:cache:*}'])).stdout.trim() !== '', 'the entry in the shared level')
  const copy = await request(`${b.url}/p`, { headers: h })
  assert.equal(copy.headers['x-cache'], 'HIT', 'B copied the entry into its memory')
  // Both copies go stale; A refreshes and stores v2.
  backend.version = 2
  await waitFor(async () => (await request(`${a.url}/p`, { headers: h })).body === 'page v2', 'A serves the refreshed entry')
  const refreshes = backend.count('/p')
  await waitFor(async () => {
    const keys = (await run('redis-cli', ['-p', String(redis.port), '--scan', '--pattern', '{cachetest5:cache:*'])).stdout.trim().split('\n')
    for (const k of keys) if ((await run('redis-cli', ['-p', String(redis.port), '--raw', 'GET', k])).stdout.includes('page v2')) return true
    return false
  }, 'v2 in the shared level')
  const r = await request(`${b.url}/p`, { headers: h })
  assert.equal(r.body, 'page v2')
  assert.equal(r.headers['x-cache'], 'HIT')
  assert.equal(backend.count('/p'), refreshes, 'B served the entry A stored; it did not revalidate its own stale copy')
})

test('Redis stopped: cache bypass, fresh memory entries still HIT, no failed request; shared again after restart', async (t) => {
  const redis = await startRedis(t)
  const backend = await countingBackend(t, (path, v, _req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600' })
    res.end(`${path} v${v}`)
  })
  const [a, b] = await twoHosts(t, redis.url, backend.url)
  const h = { host: 'outage.test' }
  // Warm: every worker of both instances gets a memory copy.
  for (let i = 0; i < 16; i++) for (const p of [a, b]) assert.equal((await request(`${p.url}/warm`, { headers: h })).status, 200)
  assert.equal(backend.count('/warm'), 1)

  await redis.stop()
  let failed = 0
  const xcache: string[] = []
  for (let i = 0; i < 16; i++) {
    for (const p of [a, b]) {
      for (const path of ['/warm', `/cold-${i}`]) {
        try {
          const r = await request(`${p.url}${path}`, { headers: h })
          if (r.status !== 200) failed++
          if (path === '/warm') xcache.push(String(r.headers['x-cache']))
        } catch { failed++ }
      }
    }
  }
  assert.equal(failed, 0, 'a Redis outage never fails a request')
  assert.ok(xcache.every((x) => x === 'HIT'), `fresh memory entries keep serving: ${xcache.join(' ')}`)
  assert.equal(backend.count('/warm'), 1)
  assert.ok(backend.count('/cold-3') >= 1, 'cold URLs went to the backend')
  // A purge cannot reach the shared level or the other workers now, and says so.
  const refused = await fetch(`${a.adminUrl}/api/cache/purge`, { method: 'POST', body: JSON.stringify({ url: 'outage.test/warm' }) })
  assert.equal(refused.status, 503)
  assert.equal((await refused.json() as { error: string }).error, 'SWY_STATE_UNAVAILABLE')

  await redis.start()
  // The stores skip the shared level for a second after a fault; once back, a fill on one instance serves the other.
  await waitFor(async () => {
    const path = `/after-${Date.now()}`
    const first = await request(`${a.url}${path}`, { headers: h })
    if (first.status !== 200) return false
    await new Promise((resolve) => setTimeout(resolve, 50))
    const second = await request(`${b.url}${path}`, { headers: h })
    return second.headers['x-cache'] === 'HIT'
  }, 'the shared level to work again after Redis restarted', 15_000, 200)
})

test('Redis down when the proxy starts: it starts, answers from the backend and worker memory, and keeps answering once Redis is up', async (t) => {
  const redis = await startRedis(t)
  await redis.stop()
  const backend = await countingBackend(t, (path, v, _req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600' })
    res.end(`${path} v${v}`)
  })
  const p = await startProxy(t, {
    workers: 1,
    upstreams: { web: { servers: [{ url: backend.url }] } },
    routes: [{ upstream: 'web', cache: {} }],
    state: { redis: redis.url, prefix: 'cachetest4' },
    log: { access: false }
  })
  const first = await request(`${p.url}/early`)
  assert.equal(first.status, 200)
  assert.equal(first.headers['x-cache'], 'MISS')
  const second = await request(`${p.url}/early`)
  assert.equal(second.headers['x-cache'], 'HIT', 'kept in worker memory while Redis is down')
  assert.equal(backend.count('/early'), 1)
  await redis.start()
  await waitFor(async () => (await request(`${p.url}/later-${Date.now()}`)).status === 200 && (await request(`${p.url}/early`)).status === 200, 'requests after Redis came up', 5000, 100)
})
