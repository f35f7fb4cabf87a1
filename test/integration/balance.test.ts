// Balancing through a real proxy (1 worker) over real backends that answer their name: exact round-robin and
// weighted shares, least-conn and p2c steering around busy servers, and consistent hashing by ip/header/cookie.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { startBackend, startProxy, request, waitFor, type BackendHandle, type ProxyHandle } from '../helpers/index.ts'

interface Named {
  readonly name: string
  readonly backend: BackendHandle
  /** Requests to `/slow…` wait here until released. */
  readonly held: Array<() => void>
}

/** Backends answering their name; `/slow…` requests are held until `release`. */
async function startNamed (t: TestContext, names: readonly string[]): Promise<Named[]> {
  const all = await Promise.all(names.map(async (name) => {
    const held: Array<() => void> = []
    const backend = await startBackend(t, (req, res) => {
      req.resume()
      const answer = (): void => { res.end(name) }
      if (req.url?.startsWith('/slow') === true) held.push(answer)
      else answer()
    })
    return { name, backend, held }
  }))
  t.after(() => { release(all) })
  return all
}

function release (named: readonly Named[]): void {
  for (const n of named) for (const answer of n.held.splice(0)) answer()
}

function heldCount (named: readonly Named[]): number {
  return named.reduce((s, n) => s + n.held.length, 0)
}

function upstreamOf (named: readonly Named[], extra: Record<string, unknown> = {}, weights?: readonly number[]): Record<string, unknown> {
  return {
    upstreams: { a: { servers: named.map((n, i) => ({ url: n.backend.url, ...(weights === undefined ? {} : { weight: weights[i] }) })), ...extra } },
    routes: [{ upstream: 'a' }],
    log: { access: false }
  }
}

async function nameOf (proxy: ProxyHandle, path = '/', headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${proxy.url}${path}`, { headers })
  assert.equal(res.status, 200)
  return await res.text()
}

/** Sends `n` sequential requests and counts the answering backends' names. */
async function tally (proxy: ProxyHandle, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (let i = 0; i < n; i++) {
    const name = await nameOf(proxy)
    counts[name] = (counts[name] ?? 0) + 1
  }
  return counts
}

test('round-robin spreads 30 requests exactly evenly over 3 servers', async (t) => {
  const named = await startNamed(t, ['a', 'b', 'c'])
  const proxy = await startProxy(t, upstreamOf(named, { balance: 'round-robin' }))
  assert.deepEqual(await tally(proxy, 30), { a: 10, b: 10, c: 10 })
})

test('weighted 3,1,1 gives exactly 30/10/10 of 50 requests', async (t) => {
  const named = await startNamed(t, ['a', 'b', 'c'])
  const proxy = await startProxy(t, upstreamOf(named, { balance: 'weighted' }, [3, 1, 1]))
  assert.deepEqual(await tally(proxy, 50), { a: 30, b: 10, c: 10 })
})

test('least-conn sends new requests away from servers holding slow requests', async (t) => {
  const named = await startNamed(t, ['a', 'b', 'c'])
  const proxy = await startProxy(t, upstreamOf(named, { balance: 'least-conn' }))
  const slow1 = fetch(`${proxy.url}/slow/1`)
  await waitFor(() => heldCount(named) === 1, 'the first slow request at a backend')
  const slow2 = fetch(`${proxy.url}/slow/2`)
  await waitFor(() => heldCount(named) === 2, 'the second slow request at a backend')
  const busy = named.filter((n) => n.held.length > 0)
  assert.equal(busy.length, 2, 'the second slow request went to an idle server')
  const idle = named.find((n) => n.held.length === 0)!
  assert.deepEqual(await tally(proxy, 10), { [idle.name]: 10 })
  release(named)
  const answers = await Promise.all([slow1, slow2].map(async (p) => { const r = await p; return `${r.status} ${await r.text()}` }))
  assert.deepEqual(answers.sort(), busy.map((n) => `200 ${n.name}`).sort())
})

test('p2c spreads over every server and avoids the busy one', async (t) => {
  const named = await startNamed(t, ['a', 'b', 'c'])
  const proxy = await startProxy(t, upstreamOf(named, { balance: 'p2c' }))
  const spread = await tally(proxy, 60)
  for (const n of named) assert.ok((spread[n.name] ?? 0) >= 5, `${n.name} got ${spread[n.name] ?? 0} of 60: ${JSON.stringify(spread)}`)

  const slow = fetch(`${proxy.url}/slow`)
  await waitFor(() => heldCount(named) === 1, 'the slow request at a backend')
  const busy = named.find((n) => n.held.length === 1)!
  const counts = await tally(proxy, 30)
  assert.equal(counts[busy.name], undefined, `the busy server ${busy.name} got requests: ${JSON.stringify(counts)}`)
  for (const n of named) if (n !== busy) assert.ok((counts[n.name] ?? 0) > 0, `${n.name} got none: ${JSON.stringify(counts)}`)
  release(named)
  assert.equal((await slow).status, 200)
})

interface HashCase {
  readonly name: string
  readonly by: string
  /** How to send key `k` (0…19). */
  readonly send: (proxy: ProxyHandle, k: number) => Promise<string>
}

const hashCases: HashCase[] = [
  {
    name: 'ip',
    by: 'ip',
    // All of 127/8 is loopback: each key is another source address.
    send: async (proxy, k) => {
      const r = await request(proxy.url, { localAddress: `127.0.0.${10 + k}` })
      assert.equal(r.status, 200)
      return r.body
    }
  },
  { name: 'header:X-User', by: 'header:X-User', send: async (proxy, k) => await nameOf(proxy, '/', { 'x-user': `user-${k}` }) },
  { name: 'cookie:sid', by: 'cookie:sid', send: async (proxy, k) => await nameOf(proxy, '/', { cookie: `theme=dark; sid=s${k * 7919}; lang=en` }) }
]

for (const c of hashCases) {
  test(`hash by ${c.name} keeps each of 20 keys on one server over 5 requests`, async (t) => {
    const named = await startNamed(t, ['a', 'b', 'c'])
    const proxy = await startProxy(t, upstreamOf(named, { balance: 'hash', hash: { by: c.by } }))
    const homes = new Map<number, string>()
    for (let round = 0; round < 5; round++) {
      for (let k = 0; k < 20; k++) {
        const got = await c.send(proxy, k)
        const home = homes.get(k)
        if (home === undefined) homes.set(k, got)
        else assert.equal(got, home, `key ${k} moved from ${home} to ${got} in round ${round}`)
      }
    }
    // A constant answer would also be "sticky": the keys must spread.
    assert.ok(new Set(homes.values()).size >= 2, `all 20 keys on one server: ${JSON.stringify([...homes])}`)
  })
}

test('hash: removing one of 4 servers moves only its keys, about a quarter of them', async (t) => {
  const named = await startNamed(t, ['a', 'b', 'c', 'd'])
  const extra = { balance: 'hash', hash: { by: 'header:x-user' } }
  const removed = named[2]!
  const before = await startProxy(t, upstreamOf(named, extra))
  const after = await startProxy(t, upstreamOf(named.filter((n) => n !== removed), extra))
  const keys = 200
  let moved = 0
  let onRemoved = 0
  for (let k = 0; k < keys; k++) {
    const h = { 'x-user': `user-${k}` }
    const was = await nameOf(before, '/', h)
    const is = await nameOf(after, '/', h)
    assert.notEqual(is, removed.name)
    if (was === removed.name) onRemoved++
    if (was !== is) {
      moved++
      assert.equal(was, removed.name, `key ${k} moved from ${was} to ${is}, but ${was} is still configured`)
    }
  }
  assert.equal(moved, onRemoved)
  // 160 virtual nodes per server: the removed share is close to 1/4 (binomial sd over 200 keys is ~3 %).
  assert.ok(moved >= keys * 0.12 && moved <= keys * 0.40, `${moved} of ${keys} keys moved`)
})
