// limits.max_body through raw sockets (needs the guards branch's `limits` config): a body over the limit gets 413
// and never reaches the backend whole, whether announced by Content-Length or found mid-stream in chunked framing,
// and the bytes of a refused body are never parsed as another request.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startProxy } from '../helpers/index.ts'
import { startRawBackend, converse, vitals, plainGet } from './harness.ts'

const LIMIT = 1024
const HOST = 'Host: app.test\r\n'
const smuggled = (p: string): string => `GET ${p}/smuggled HTTP/1.1\r\n${HOST}\r\n`
const chunks = (n: number, size: number): string => `${size.toString(16)}\r\n${'c'.repeat(size)}\r\n`.repeat(n) + '0\r\n\r\n'

interface Case {
  readonly name: string
  readonly steps: (p: string) => Array<string | number>
  /** Allowed status lists. */
  readonly statuses: ReadonlyArray<readonly number[]>
  /** Complete requests the backend must get: [path, body length]. */
  readonly backend: ReadonlyArray<readonly [string, number]>
}

const cases: Case[] = [
  { name: 'Content-Length at the limit passes', steps: (p) => [`POST ${p} HTTP/1.1\r\n${HOST}Content-Length: ${LIMIT}\r\n\r\n${'a'.repeat(LIMIT)}`], statuses: [[200]], backend: [['', LIMIT]] },
  { name: 'Content-Length one over the limit: 413 before any body byte goes on', steps: (p) => [`POST ${p} HTTP/1.1\r\n${HOST}Content-Length: ${LIMIT + 1}\r\n\r\n${'a'.repeat(LIMIT + 1)}`], statuses: [[413]], backend: [] },
  { name: 'Content-Length over the limit, head only', steps: (p) => [`POST ${p} HTTP/1.1\r\n${HOST}Content-Length: ${100 * LIMIT}\r\n\r\n`], statuses: [[413]], backend: [] },
  {
    name: 'a refused body that holds a request is never parsed as one',
    steps: (p) => [`POST ${p} HTTP/1.1\r\n${HOST}Content-Length: ${LIMIT + smuggled(p).length}\r\n\r\n${'a'.repeat(LIMIT)}${smuggled(p)}`],
    statuses: [[413], []],
    backend: []
  },
  { name: 'chunked under the limit passes', steps: (p) => [`POST ${p} HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n${chunks(4, 256)}`], statuses: [[200]], backend: [['', LIMIT]] },
  { name: 'chunked over the limit: 413 mid-stream, the backend never gets it whole', steps: (p) => [`POST ${p} HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n`, 50, chunks(8, 256)], statuses: [[413], []], backend: [] },
  { name: 'chunked over the limit in slow pieces', steps: (p) => [`POST ${p} HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n`, ...Array.from({ length: 8 }, () => [`100\r\n${'c'.repeat(256)}\r\n`, 50]).flat(), '0\r\n\r\n'], statuses: [[413], []], backend: [] }
]

test('limits.max_body through raw sockets', { concurrency: true, timeout: 60_000 }, async (t) => {
  const backend = await startRawBackend(t)
  const proxy = await startProxy(t, { workers: 2, limits: { max_body: LIMIT }, upstreams: { a: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'a' }] })
  const before = await vitals(proxy.adminUrl)
  await Promise.all(cases.map(async (c, i) => {
    await t.test(c.name, async () => {
      const p = `/limit${i}`
      const seen = await converse(proxy.port, c.steps(p), 5000, Math.max(1, ...c.statuses.map((s) => s.length)))
      assert.ok(c.statuses.some((s) => s.length === seen.statuses.length && s.every((x, j) => x === seen.statuses[j])),
        `client got ${JSON.stringify(seen.statuses)}: ${JSON.stringify(seen.text.slice(0, 300))}`)
      assert.equal(await plainGet(proxy.port, `${p}/after`), 200)
      assert.deepEqual((await vitals(proxy.adminUrl)).pids, before.pids)
      const got = backend.forCase(p).filter((r) => r.target !== `${p}/after`)
      assert.deepEqual(got.map((r) => [r.target.slice(p.length), r.body.length]), c.backend.map(([path, n]) => [path, n]))
    })
  }))
  assert.deepEqual(backend.malformed, [])
})
