// Proof that the upstream client reads responses as undici (llhttp) does: every response of the corpus, whole and
// split in two at every byte boundary, gets the same verdict from our parser and from undici (status, fields and
// body of a valid response; refusal of an invalid one). undici reads from an in-process stream that delivers the
// pieces in separate turns, so each split really is two reads. The same corpus then goes through the whole client
// over real sockets, which must agree too.
//
// Where undici is wrong or too lenient for a proxy, we differ on purpose, and each case is listed in DIVERGES with
// the reason; the test checks those differences still hold (so the list stays true) and allows no other.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Duplex } from 'node:stream'
import { once } from 'node:events'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { Client } from 'undici'
import { ResponseParser, type ParserSink } from '../../../src/upstream/client/response-parser.ts'
import { ServerPool, UpstreamClock, type ResponseHandler } from '../../../src/upstream/index.ts'
import { RESPONSE_CORPUS, type ResponseCase } from '../../../bench/fuzz/response-corpus.ts'

/** What a client made of a response: the final status, its fields as sent, and the body; or a refusal. */
type Verdict = { ok: true, status: number, headers: string[], body: string } | { ok: false }

const REFUSED: Verdict = { ok: false }

/** Corpus cases where we refuse (false) or accept (true) against undici's verdict, and why. */
const DIVERGES: Record<string, { ours: boolean, why: string }> = {
  '304 Not Modified with a length': { ours: true, why: 'a 304 may carry the length of the representation it validates (RFC 9110 §8.6); undici counts it as missing body bytes' },
  '100 Continue then 200': { ours: true, why: 'a client must parse 1xx answers it did not expect (RFC 9110 §15.2); undici refuses a 100 to a request without Expect' },
  'two 1xx then 200': { ours: true, why: 'as above' },
  '100 then chunked 200': { ours: true, why: 'as above' },
  'bad status line "HTTP/2.0 200 OK"': { ours: false, why: 'not an HTTP/1.x response; llhttp takes any version' },
  'bad status line "HTTP/0.9 200 OK"': { ours: false, why: 'HTTP/0.9 has no status line; llhttp takes any version' },
  'bad status line "HTTP/1.1 600 Too High"': { ours: false, why: 'status codes run from 100 to 599 (RFC 9110 §15); llhttp takes any three digits' },
  'Transfer-Encoding: gzip, chunked': { ours: false, why: 'the body would reach the client still gzipped with nothing saying so: the proxy re-frames and never forwards Transfer-Encoding' },
  'Transfer-Encoding: chunked, chunked': { ours: false, why: 'chunked twice: undici decodes once and passes chunk framing on as body bytes (RFC 9112 §6.1 forbids it)' },
  'Transfer-Encoding twice': { ours: false, why: 'the same list as "chunked, chunked"' },
  'Transfer-Encoding: chunkedx': { ours: false, why: 'an unknown transfer coding: the body would be passed on still encoded and unlabelled' }
}

/** Field values without trailing whitespace, which is not part of a value (RFC 9112 §5.1) and which undici keeps. */
function trimmed (v: Verdict): Verdict {
  if (!v.ok) return v
  return { ...v, headers: v.headers.map((h, i) => i % 2 === 1 ? h.replace(/[ \t]+$/, '') : h) }
}

/** Our parser's verdict; `whole`: with a sink that takes whole answers in one call (onWhole), as the proxy's does. */
function ours (pieces: readonly Buffer[], method: string, whole = false): Verdict {
  let status = 0
  let headers: string[] = []
  const body: Buffer[] = []
  let ended = false
  const sink: ParserSink = {
    onHead (s: number, h: Buffer[]) { status = s; headers = h.map((b) => b.toString('latin1')) },
    onBody (c: Buffer) { body.push(Buffer.from(c)); return true },
    onEnd () { ended = true },
    ...(whole ? { onWhole (s: number, h: Buffer[], b: Buffer) { status = s; headers = h.map((x) => x.toString('latin1')); body.push(Buffer.from(b)) } } : {})
  }
  const p = new ResponseParser(sink)
  p.reset(sink, method === 'HEAD')
  for (const piece of pieces) {
    if (ended) break
    if (p.execute(piece, 0, piece.length) < 0) return REFUSED
  }
  if (!ended && !p.finish()) return REFUSED
  return { ok: true, status, headers, body: Buffer.concat(body).toString('latin1') }
}

/** A socket stand-in for undici: answers the request with `pieces`, each in its own turn of the event loop, then ends. */
class Scripted extends Duplex {
  readonly #pieces: Buffer[]
  #answered = false
  constructor (pieces: readonly Buffer[]) {
    super()
    this.#pieces = [...pieces]
  }

  override _write (_chunk: Buffer, _enc: string, cb: () => void): void {
    cb()
    if (this.#answered) return
    this.#answered = true
    const next = (): void => {
      const p = this.#pieces.shift()
      if (p === undefined) { this.push(null); return }
      this.push(p)
      setImmediate(next)
    }
    setImmediate(next)
  }

  override _read (): void {}
  setKeepAlive (): this { return this }
  setNoDelay (): this { return this }
  ref (): this { return this }
  unref (): this { return this }
  setTimeout (): this { return this }
}

async function undici (pieces: readonly Buffer[], method: string): Promise<Verdict> {
  const client = new Client('http://oracle.test', {
    connect: (_opts, cb) => {
      const s = new Scripted(pieces)
      queueMicrotask(() => { cb(null, s as unknown as Socket) })
      return s as unknown as Socket
    }
  })
  try {
    return await new Promise<Verdict>((resolve) => {
      let status = 0
      let headers: string[] = []
      const body: Buffer[] = []
      client.dispatch({ path: '/', method: method as 'GET' }, {
        onConnect () {},
        onHeaders (s: number, raw: Buffer[]) {
          if (s >= 200) { status = s; headers = raw.map((b) => b.toString('latin1')) }
          return true
        },
        onData (c: Buffer) { body.push(Buffer.from(c)); return true },
        onComplete () { resolve({ ok: true, status, headers, body: Buffer.concat(body).toString('latin1') }) },
        onError () { resolve(REFUSED) }
      })
    })
  } finally {
    await client.destroy()
  }
}

const bytesOf = (c: ResponseCase): Buffer => Buffer.from(c.bytes, 'latin1')

test('the corpus holds at least 200 responses, valid and invalid', async () => {
  assert.ok(RESPONSE_CORPUS.length >= 200, `${RESPONSE_CORPUS.length} responses`)
  const verdicts = await Promise.all(RESPONSE_CORPUS.map(async (c) => await undici([bytesOf(c)], c.method)))
  const valid = verdicts.filter((v) => v.ok).length
  for (const name of Object.keys(DIVERGES)) assert.ok(RESPONSE_CORPUS.some((c) => c.name === name), `DIVERGES names no case: ${name}`)
  assert.ok(valid >= 60 && RESPONSE_CORPUS.length - valid >= 60, `${valid} valid, ${RESPONSE_CORPUS.length - valid} invalid`)
})

test('whole and split at every byte boundary, our parser and undici agree on every response', { timeout: 600_000 }, async (t) => {
  const differ: string[] = []
  let runs = 0
  for (const c of RESPONSE_CORPUS) {
    const all = bytesOf(c)
    const oracle = trimmed(await undici([all], c.method))
    const got = ours([all], c.method)
    const gotWhole = ours([all], c.method, true)
    if (!same(gotWhole, got)) differ.push(`${c.name}: ours ${show(got)}, ours taking whole answers ${show(gotWhole)}`)
    runs++
    const d = DIVERGES[c.name]
    if (d !== undefined) {
      if (got.ok !== d.ours || oracle.ok === d.ours) differ.push(`${c.name}: listed as diverging (${d.why}), but ours ${show(got)}, undici ${show(oracle)}`)
    } else if (!same(got, oracle)) {
      differ.push(`${c.name}: ours ${show(got)}, undici ${show(oracle)}`)
      continue
    }
    for (let k = 1; k < all.length; k++) {
      const pieces = [all.subarray(0, k), all.subarray(k)]
      const u = trimmed(await undici(pieces, c.method))
      const o = ours(pieces, c.method)
      const w = ours(pieces, c.method, true)
      runs++
      if (!same(u, oracle) || !same(o, got) || !same(w, got)) {
        differ.push(`${c.name} split at ${k}: ours ${show(o)}, ours taking whole answers ${show(w)}, undici ${show(u)}, whole: ours ${show(got)}, undici ${show(oracle)}`)
        break
      }
    }
  }
  t.diagnostic(`${RESPONSE_CORPUS.length} responses, ${runs} deliveries per client`)
  assert.deepEqual(differ, [])
})

test('the whole client over real sockets reads every response as the parser alone does', { timeout: 120_000 }, async (t) => {
  // Each connection gets the case named by its request path, and the server closes after answering without saying
  // so: a connection reused meanwhile is closed under its next request, which is sent again on a new one.
  const server = createServer((s) => {
    let head = ''
    s.on('data', (d: Buffer) => {
      head += d.toString('latin1')
      const m = /^(?:GET|HEAD) \/(\d+) /.exec(head)
      if (m === null || !head.includes('\r\n\r\n')) return
      s.end(bytesOf(RESPONSE_CORPUS[Number(m[1])]!))
    })
    s.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => { server.close() })
  const clock = new UpstreamClock()
  const port = (server.address() as AddressInfo).port
  const pool = new ServerPool({ host: '127.0.0.1', port, tls: undefined, timeouts: { connect: 2000, response: 5000, idle: 5000 } }, 16, clock)
  t.after(async () => { await pool.close(0); clock.close() })
  const differ: string[] = []
  await Promise.all(RESPONSE_CORPUS.map(async (c, i) => {
    const expected = ours([bytesOf(c)], c.method)
    const got = await new Promise<Verdict>((resolve) => {
      let status = 0
      let headers: string[] = []
      const body: Buffer[] = []
      const handler: ResponseHandler = {
        onHead (s, h) { status = s; headers = h.map((b) => b.toString('latin1')) },
        onWhole (s, h, b) { status = s; headers = h.map((x) => x.toString('latin1')); body.push(Buffer.from(b)) },
        onBody (chunk) { body.push(Buffer.from(chunk)); return true },
        onEnd () { resolve({ ok: true, status, headers, body: Buffer.concat(body).toString('latin1') }) },
        onError () { resolve(REFUSED) }
      }
      pool.request({ head: `${c.method} /${i} HTTP/1.1\r\nhost: a\r\n\r\n`, isHead: c.method === 'HEAD', body: null, chunked: false, length: -1, retryStale: true }, handler)
    })
    if (!same(got, expected)) differ.push(`${c.name}: over a socket ${show(got)}, parser alone ${show(expected)}`)
  }))
  assert.deepEqual(differ, [])
})

function same (a: Verdict, b: Verdict): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

function show (v: Verdict): string {
  const s = JSON.stringify(v)
  return s.length > 200 ? `${s.slice(0, 200)}…` : s
}
