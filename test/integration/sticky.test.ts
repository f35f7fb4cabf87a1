// Sticky sessions through real proxies (2 workers each) and real backends: an issued cookie and a learned JSESSIONID
// stick across workers; two instances on one redis-server share sessions; a dead server moves its sessions once, for
// every instance; with Redis stopped no request fails and a session stays on its server, and shared mode comes back.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { startBackend, startProxy, request, waitFor, type BackendHandle, type ProxyHandle } from '../helpers/index.ts'
import { startRedis } from '../helpers/redis.ts'

const run = promisify(execFile)
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

interface Named { readonly name: string, readonly backend: BackendHandle }

/** Backends answering their name; with `learn`, a request without JSESSIONID gets one naming the backend. */
async function startNamed (t: TestContext, names: readonly string[], learn = false): Promise<Named[]> {
  return await Promise.all(names.map(async (name) => {
    let n = 0
    const backend = await startBackend(t, (req, res) => {
      req.resume()
      if (learn && !(req.headers.cookie ?? '').includes('JSESSIONID=')) res.setHeader('set-cookie', `JSESSIONID=${name}-${++n}; Path=/; HttpOnly`)
      res.end(name)
    })
    return { name, backend }
  }))
}

function config (named: readonly Named[], sticky: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    workers: 2,
    upstreams: { web: { servers: named.map((n) => ({ url: n.backend.url })), sticky } },
    routes: [{ upstream: 'web' }],
    ...extra
  }
}

let seq = 0
/** One request on a fresh connection (so it may land on either worker), tagged with a request id for the access log. */
async function get (proxy: ProxyHandle, cookie?: string): Promise<{ status: number, body: string, setCookie: string[], reqId: string }> {
  const reqId = `st-${process.pid}-${++seq}`
  const r = await request(`${proxy.url}/`, { headers: { 'x-request-id': reqId, ...(cookie === undefined ? {} : { cookie }) } })
  const sc = r.headers['set-cookie']
  return { status: r.status, body: r.body, setCookie: sc === undefined ? [] : sc, reqId }
}

function cookiePair (setCookie: string): string {
  return setCookie.slice(0, setCookie.indexOf(';'))
}

/** The access line of a request (polled: the worker writes it after the response). */
async function accessLine (proxy: ProxyHandle, reqId: string): Promise<Record<string, unknown>> {
  return await waitFor(() => proxy.logs.find((l) => l.kind === 'access' && l.reqId === reqId), `access line ${reqId}`)
}

async function stickyKeys (port: number): Promise<string[]> {
  const { stdout } = await run('redis-cli', ['-p', String(port), '--scan', '--pattern', '*sticky*'])
  return stdout.split('\n').filter(Boolean)
}

test('issued cookie: the first answer sets it; 20 follow-ups reach the same server, on both workers', async (t) => {
  const named = await startNamed(t, ['a', 'b', 'c'])
  const proxy = await startProxy(t, config(named, { cookie: 'SWY', ttl: '10m' }))
  const first = await get(proxy)
  assert.equal(first.status, 200)
  assert.equal(first.setCookie.length, 1)
  assert.match(first.setCookie[0]!, /^SWY=[A-Za-z0-9_-]{22}; Path=\/; Max-Age=600; HttpOnly; SameSite=Lax$/)
  const cookie = cookiePair(first.setCookie[0]!)
  const workers = new Set<unknown>()
  for (let i = 0; i < 20; i++) {
    const r = await get(proxy, `other=1; ${cookie}`)
    assert.equal(r.body, first.body, `follow-up ${i}`)
    workers.add((await accessLine(proxy, r.reqId)).worker)
  }
  assert.equal(workers.size, 2, 'the follow-ups were served by both workers')

  // Both workers hold a copy now. The server dies: the first request moves the session (a failed attempt, then the
  // replacement), and the move is announced over the embedded store's pub/sub, so the other worker's copy follows:
  // no later request, on either worker, tries the dead server first.
  const named0 = named.find((n) => n.name === first.body)!
  await named0.backend.close()
  const moved = await get(proxy, cookie)
  assert.equal(moved.status, 200)
  assert.notEqual(moved.body, first.body)
  assert.equal((await accessLine(proxy, moved.reqId)).attempts, 2)
  await sleep(300) // the announcement crosses the primary; nothing below depends on how long it took, only that it came
  const after = new Set<unknown>()
  for (let i = 0; i < 20; i++) {
    const r = await get(proxy, cookie)
    assert.equal(r.body, moved.body)
    const line = await accessLine(proxy, r.reqId)
    assert.equal(line.attempts, 1, `request ${i} after the move, worker ${String(line.worker)}`)
    after.add(line.worker)
  }
  assert.equal(after.size, 2, 'both workers served the moved session')
  // Without the cookie, round-robin still spreads new sessions.
  const others = new Set<string>()
  for (let i = 0; i < 12; i++) others.add((await get(proxy)).body)
  assert.ok(others.size >= 2, `new sessions went to ${[...others].join(', ')}`)
})

test('a POST (never retried) to a dead mapped server gets 502 once; the session has moved for its next request', async (t) => {
  const named = await startNamed(t, ['a', 'b', 'c'])
  const proxy = await startProxy(t, config(named, { cookie: 'SWY' }, { workers: 1 }))
  const first = await get(proxy)
  const cookie = cookiePair(first.setCookie[0]!)
  assert.equal((await get(proxy, cookie)).body, first.body)
  await named.find((n) => n.name === first.body)!.backend.close()
  const post = async (): Promise<{ status: number, body: string }> => await request(`${proxy.url}/`, { method: 'POST', headers: { cookie }, body: 'x' })
  assert.equal((await post()).status, 502)
  const next = await post()
  assert.equal(next.status, 200)
  assert.notEqual(next.body, first.body)
  for (let i = 0; i < 5; i++) assert.equal((await post()).body, next.body)
})

test('learn mode: the backend\'s JSESSIONID keeps its session on the server that set it', async (t) => {
  const named = await startNamed(t, ['a', 'b', 'c'], true)
  const proxy = await startProxy(t, config(named, { learn: 'JSESSIONID', ttl: '10m' }))
  const sessions: Array<{ cookie: string, server: string }> = []
  for (let i = 0; i < 3; i++) {
    const login = await get(proxy)
    assert.equal(login.setCookie.length, 1, 'only the backend\'s own cookie')
    assert.match(login.setCookie[0]!, /^JSESSIONID=/)
    sessions.push({ cookie: cookiePair(login.setCookie[0]!), server: login.body })
  }
  for (let i = 0; i < 20; i++) {
    const s = sessions[i % sessions.length]!
    const r = await get(proxy, s.cookie)
    assert.equal(r.body, s.server, `request ${i} with ${s.cookie}`)
    assert.deepEqual(r.setCookie, [])
  }
})

test('two instances on one Redis: a session made on A sticks on B; a dead server moves it once, for both', async (t) => {
  const redis = await startRedis(t)
  const named = await startNamed(t, ['a', 'b', 'c'])
  const learning = await startNamed(t, ['x', 'y', 'z'], true)
  const cfg = config(named, { cookie: 'SWY', ttl: '10m' }, { state: { redis: redis.url, prefix: 'sttest' } })
  ;(cfg.upstreams as Record<string, unknown>).app = { servers: learning.map((n) => ({ url: n.backend.url })), sticky: { learn: 'JSESSIONID' } }
  ;(cfg.routes as unknown[]).push({ match: { path: '/app/' }, upstream: 'app' })
  const [a, b] = await Promise.all([startProxy(t, cfg), startProxy(t, cfg)])

  // A learned session has no link to the hash of its value: only the shared map can tell B where it lives.
  const logins = await Promise.all([0, 1, 2].map(async () => await request(`${a.url}/app/`)))
  for (const login of logins) {
    const jsession = cookiePair(login.headers['set-cookie']![0]!)
    for (let i = 0; i < 6; i++) assert.equal((await request(`${b.url}/app/`, { headers: { cookie: jsession } })).body, login.body, `${jsession} on B`)
  }
  assert.ok(new Set(logins.map((l) => l.body)).size >= 2, 'the logins were balanced over several servers')

  const first = await get(a)
  const cookie = cookiePair(first.setCookie[0]!)
  const server = first.body
  for (let i = 0; i < 10; i++) {
    assert.equal((await get(b, cookie)).body, server)
    assert.equal((await get(a, cookie)).body, server)
  }
  assert.equal((await stickyKeys(redis.port)).length, 4)

  await named.find((n) => n.name === server)!.backend.close()
  const moved = await get(a, cookie)
  assert.equal(moved.status, 200, 'the retry reached another server')
  assert.notEqual(moved.body, server)
  assert.equal(moved.setCookie.length, 1, 'the move re-sends the cookie')
  assert.equal(cookiePair(moved.setCookie[0]!), cookie, 'same session id')
  // B holds a copy naming the dead server; the announcement through Redis updates it, so every later request on
  // either instance goes straight to the new server (without it, B's first request would fail over on its own).
  await sleep(300)
  for (let i = 0; i < 10; i++) {
    for (const p of [a, b]) {
      const r = await get(p, cookie)
      assert.equal(r.body, moved.body)
      assert.equal((await accessLine(p, r.reqId)).attempts, 1)
    }
  }
})

test('Redis stopped under requests: nothing fails, the session keeps its server, and shared mode comes back', async (t) => {
  const redis = await startRedis(t)
  const named = await startNamed(t, ['a', 'b', 'c'])
  const cfg = config(named, { cookie: 'SWY', ttl: '10m' }, { state: { redis: redis.url, prefix: 'sttest', timeout: '100ms' } })
  const [a, b] = await Promise.all([startProxy(t, cfg), startProxy(t, cfg)])
  const first = await get(a)
  const cookie = cookiePair(first.setCookie[0]!)
  const server = first.body

  // Two request loops per instance run while Redis is killed under them, and for 3 s after.
  let failed = 0
  const seen = new Map<string, number>()
  let stop = false
  const loop = async (p: ProxyHandle): Promise<void> => {
    while (!stop) {
      try {
        const r = await get(p, cookie)
        if (r.status !== 200) failed++
        seen.set(r.body, (seen.get(r.body) ?? 0) + 1)
      } catch { failed++ }
    }
  }
  const loops = [a, b, a, b].map(loop)
  await sleep(300)
  await redis.stop()
  // A session started during the outage still gets a cookie and sticks across instances (hash of its id).
  const fresh = await get(b)
  assert.equal(fresh.setCookie.length, 1)
  const during = `${cookiePair(fresh.setCookie[0]!)}|${fresh.body}`
  await sleep(3000)
  stop = true
  await Promise.all(loops)
  t.diagnostic(`during the outage: ${JSON.stringify(Object.fromEntries(seen))}`)
  assert.equal(failed, 0, 'a state fault never fails a request')
  assert.deepEqual([...seen.keys()], [server], 'the session stayed on its server')
  const [duringCookie, duringServer] = during.split('|') as [string, string]
  for (let i = 0; i < 6; i++) assert.equal((await get(i % 2 === 0 ? a : b, duringCookie)).body, duringServer)
  for (const p of [a, b]) assert.ok(p.logs.some((l) => String(l.msg).startsWith('sticky: shared state unavailable')), 'each instance warned')

  await redis.start()
  // Workers try state again a second after their last fault, once ioredis has reconnected; requests bring them back.
  await waitFor(async () => {
    for (const p of [a, b]) {
      assert.equal((await get(p, cookie)).body, server)
      assert.equal((await get(p, duringCookie)).body, duringServer)
    }
    return [a, b].every((p) => p.logs.some((l) => String(l.msg).startsWith('sticky: shared state is back')))
  }, 'both instances back in shared mode', 15_000, 200)
  // The restarted Redis was empty: the sessions' next requests write their mappings back (each worker re-reads its
  // copies after an outage), the session made during the outage included.
  await waitFor(async () => {
    for (const p of [a, b]) {
      assert.equal((await get(p, cookie)).body, server)
      assert.equal((await get(p, duringCookie)).body, duringServer)
    }
    return (await stickyKeys(redis.port)).length === 2
  }, 'both sessions in Redis again', 10_000, 200)
})
