// Request smuggling and malformed input, byte for byte, against a real proxy (2 workers) and a backend that parses
// raw TCP itself. Each case states what the client gets back and exactly which requests (and bodies) the backend
// received; then the proxy must still answer, with the same worker processes. docs/uws.md §3 maps what uWS itself
// swallows: those cases assert the observed close and that nothing reached the backend. With
// SWITCHYARD_TEST_ENGINE=node the same cases run against the node engine (node's strict llhttp parser: what it
// refuses gets Switchyard's 400 and a close).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startProxy } from '../helpers/index.ts'
import { byEngine, byListener } from '../helpers/engine.ts'
import { startRawBackend, converse, vitals, plainGet, type Step, type Observed } from './harness.ts'

/** What the client must see. */
interface ClientExpect {
  /** Allowed lists of response statuses (100 Continue not counted). */
  readonly statuses: ReadonlyArray<readonly number[]>
  /** The proxy must have closed the connection (true), must not have (false), or either. */
  readonly closed: boolean | 'either'
}
const answered = (...statuses: number[]): ClientExpect => ({ statuses: [statuses], closed: 'either' })
/** 400 and the connection closed (the guard's refusal). */
const refused: ClientExpect = { statuses: [[400]], closed: true }
/** 400 and close, or closed before the 400 went out (a pipelined request arrived while it was pending). */
const refusedOrDropped: ClientExpect = { statuses: [[400], []], closed: true }
/** Closed with no response: uWS's own FIN, at once or after its idle timeout (docs/uws.md §3). */
const dropped: ClientExpect = { statuses: [[]], closed: true }
/** `status` from Switchyard (a JSON body) and the connection closed. */
const refusedBy = (status: number): ClientExpect => ({ statuses: [[status]], closed: true })
/**
 * `status` from uWS itself and the connection closed: uWebSockets.js 20.57 answers what it cannot parse with a short
 * HTML page (400, 431, 505) where 20.30 closed without a word (docs/engines.md).
 */
const engineAnswers = (status: number): ClientExpect => ({ statuses: [[status]], closed: true })

interface Sent {
  readonly method: string
  readonly path: string
  readonly body?: string
  /**
   * How the proxy framed the body to the backend; checked when given. A chunked body may go either way: undici sends
   * Content-Length when the body has fully arrived before the backend request is written.
   */
  readonly framing?: 'length' | 'chunked' | 'none'
}

interface Case {
  readonly name: string
  /** The conversation; `p` is the case's own path prefix (the backend files requests by it). */
  readonly steps: (p: string) => Step[]
  readonly client: ClientExpect
  /** Exactly the complete requests the backend must receive (path relative to `p`). */
  readonly backend: readonly Sent[]
  /** Requests that may or may not arrive (a pipelined request aborted on its way). */
  readonly maybe?: readonly string[]
  /** How long to wait for the proxy after the last step (default 16 s; cases that wait for the engine's idle cut). */
  readonly waitMs?: number
}

/** The engine's own cut of a connection that never completes a head: about 12 s on 20.30, 32 s on 20.57. */
const ENGINE_IDLE_WAIT = byListener({ '20.30': 16_000, '20.57': 36_000, node: 16_000 })

const HOST = 'Host: app.test\r\n'
const post = (p: string, headers: string, body = ''): string => `POST ${p} HTTP/1.1\r\n${HOST}${headers}\r\n${body}`
const get = (p: string, headers = ''): string => `GET ${p} HTTP/1.1\r\n${HOST}${headers}\r\n`
const smuggled = (p: string): string => get(`${p}/smuggled`)
const CHUNKED_HELLO = '5\r\nhello\r\n0\r\n\r\n'
const hex = (n: number): string => n.toString(16)
const manyHeaders = (n: number): string => Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join('')

/** Splits `s` into `size`-byte writes, `gap` ms apart. */
function trickle (s: string, size: number, gap: number): Step[] {
  const out: Step[] = []
  for (let i = 0; i < s.length; i += size) { if (i > 0) out.push(gap); out.push(s.slice(i, i + size)) }
  return out
}

const cases: Case[] = [
  // Controls: the instruments work.
  { name: 'control: Content-Length body', steps: (p) => [post(p, 'Content-Length: 5\r\n', 'hello')], client: answered(200), backend: [{ method: 'POST', path: '', body: 'hello', framing: 'length' }] },
  { name: 'control: chunked body', steps: (p) => [post(p, 'Transfer-Encoding: chunked\r\n', CHUNKED_HELLO)], client: answered(200), backend: [{ method: 'POST', path: '', body: 'hello' }] },
  { name: 'control: no body', steps: (p) => [get(p)], client: answered(200), backend: [{ method: 'GET', path: '', framing: 'none' }] },
  { name: 'control: Expect: 100-continue', steps: (p) => [post(p, 'Expect: 100-continue\r\nContent-Length: 5\r\n'), 100, 'hello'], client: answered(200), backend: [{ method: 'POST', path: '', body: 'hello' }] },

  // Content-Length together with Transfer-Encoding (RFC 9112 §6.1).
  { name: 'CL.TE: Content-Length then Transfer-Encoding: chunked', steps: (p) => [post(p, 'Content-Length: 6\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\nG')], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'CL.TE smuggling a whole request after the last chunk', steps: (p) => [post(p, 'Content-Length: 3\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${smuggled(p)}`)], client: byListener({ '20.30': refusedOrDropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'TE.CL: a chunk that holds a request, Content-Length short', steps: (p) => [post(p, 'Transfer-Encoding: chunked\r\nContent-Length: 4\r\n', `${hex(smuggled(p).length)}\r\n${smuggled(p)}\r\n0\r\n\r\n`)], client: byListener({ '20.30': refusedOrDropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'CL with Transfer-Encoding: xchunked', steps: (p) => [post(p, 'Content-Length: 5\r\nTransfer-Encoding: xchunked\r\n', 'hello')], client: byListener({ '20.30': refusedOrDropped, '20.57': engineAnswers(400), node: refused }), backend: [] },

  // Transfer-Encoding values: only exactly `chunked` (any case, optional whitespace) is a body we can frame.
  { name: 'Transfer-Encoding: xchunked', steps: (p) => [post(p, 'Transfer-Encoding: xchunked\r\n', CHUNKED_HELLO)], client: refused, backend: [] },
  { name: 'Transfer-Encoding: chunked, identity', steps: (p) => [post(p, 'Transfer-Encoding: chunked, identity\r\n', CHUNKED_HELLO)], client: refused, backend: [] },
  { name: 'Transfer-Encoding: gzip, chunked', steps: (p) => [post(p, 'Transfer-Encoding: gzip, chunked\r\n', CHUNKED_HELLO)], client: refused, backend: [] },
  { name: 'Transfer-Encoding: identity on a GET', steps: (p) => [get(p, 'Transfer-Encoding: identity\r\n')], client: refused, backend: [] },
  { name: 'two Transfer-Encoding: chunked headers', steps: (p) => [post(p, 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', CHUNKED_HELLO)], client: refused, backend: [] },
  { name: 'Transfer-Encoding: chunked then Transfer-Encoding: identity', steps: (p) => [post(p, 'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n', CHUNKED_HELLO)], client: refused, backend: [] },
  { name: 'Transfer-Encoding:  chunked (extra leading space)', steps: (p) => [post(p, 'Transfer-Encoding:  chunked\r\n', CHUNKED_HELLO)], client: answered(200), backend: [{ method: 'POST', path: '', body: 'hello' }] },
  { name: 'Transfer-Encoding:\\tchunked (tab)', steps: (p) => [post(p, 'Transfer-Encoding:\tchunked\r\n', CHUNKED_HELLO)], client: answered(200), backend: [{ method: 'POST', path: '', body: 'hello' }] },
  { name: 'Transfer-Encoding: chunked\\t (trailing tab)', steps: (p) => [post(p, 'Transfer-Encoding: chunked\t\r\n', CHUNKED_HELLO)], client: byListener({ '20.30': answered(200), '20.57': answered(200), node: refused }), backend: byListener({ '20.30': [{ method: 'POST', path: '', body: 'hello' }], '20.57': [{ method: 'POST', path: '', body: 'hello' }], node: [] }) },
  { name: 'Transfer-Encoding: CHUNKED (case-insensitive coding name)', steps: (p) => [post(p, 'Transfer-Encoding: CHUNKED\r\n', CHUNKED_HELLO)], client: answered(200), backend: [{ method: 'POST', path: '', body: 'hello' }] },
  { name: 'Transfer-Encoding : chunked (space before the colon)', steps: (p) => [post(p, 'Transfer-Encoding : chunked\r\n', CHUNKED_HELLO)], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  // 20.57 takes `_` in a name (RFC 9110 allows it); a backend that reads `_` as `-` (CGI and WSGI do) would frame
  // the body differently, so a name that stands for a framing field that way is refused (guard/framing.ts).
  { name: 'Transfer_Encoding: chunked (underscore)', steps: (p) => [post(p, 'Transfer_Encoding: chunked\r\n', CHUNKED_HELLO)], client: byListener({ '20.30': dropped, '20.57': refused, node: refused }), backend: [] },
  { name: 'Content_Length: 5 (underscore)', steps: (p) => [post(p, 'Content_Length: 5\r\n', 'hello')], client: byListener({ '20.30': dropped, '20.57': refused, node: refused }), backend: [] },

  // Content-Length values.
  { name: 'two equal Content-Length headers', steps: (p) => [post(p, 'Content-Length: 5\r\nContent-Length: 5\r\n', 'hello')], client: refused, backend: [] },
  { name: 'two different Content-Length headers, the rest a request', steps: (p) => [post(p, `Content-Length: 0\r\nContent-Length: ${smuggled(p).length}\r\n`, smuggled(p))], client: refusedOrDropped, backend: [] },
  { name: 'Content-Length: 5, 5', steps: (p) => [post(p, 'Content-Length: 5, 5\r\n', 'hello')], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'Content-Length: -1', steps: (p) => [post(p, 'Content-Length: -1\r\n', 'hello')], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'Content-Length: +5', steps: (p) => [post(p, 'Content-Length: +5\r\n', 'hello')], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'Content-Length: 0x5', steps: (p) => [post(p, 'Content-Length: 0x5\r\n', 'hello')], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'Content-Length: 1000000000 (10 digits)', steps: (p) => [post(p, 'Content-Length: 1000000000\r\n', 'hello')], client: byListener({ '20.30': dropped, '20.57': refusedBy(413), node: refusedBy(413) }), backend: [] },
  { name: 'Content-Length: 99999999999999999999 (overflows 64 bits)', steps: (p) => [post(p, 'Content-Length: 99999999999999999999\r\n', 'hello')], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'Content-Length: 18446744073709551621 (2^64 + 5)', steps: (p) => [post(p, 'Content-Length: 18446744073709551621\r\n', `hello${smuggled(p)}`)], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'Content-Length with surrounding whitespace', steps: (p) => [post(p, 'Content-Length:   5  \r\n', 'hello')], client: answered(200), backend: [{ method: 'POST', path: '', body: 'hello' }] },
  { name: 'Content-Length on a GET', steps: (p) => [get(p, 'Content-Length: 5\r\n') + 'hello'], client: answered(200), backend: [{ method: 'GET', path: '', body: 'hello', framing: 'length' }] },

  // Chunk framing.
  { name: 'chunk size zz', steps: (p) => [post(p, 'Transfer-Encoding: chunked\r\n', 'zz\r\nhello\r\n0\r\n\r\n')], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'chunk size -5', steps: (p) => [post(p, 'Transfer-Encoding: chunked\r\n', '-5\r\nhello\r\n0\r\n\r\n')], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'chunk size 0xffffffffffffffffff (overflow)', steps: (p) => [post(p, 'Transfer-Encoding: chunked\r\n', `ffffffffffffffffff\r\nhello\r\n0\r\n\r\n${smuggled(p)}`)], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'chunk size 2^64 + 5 (wraps to 5)', steps: (p) => [post(p, 'Transfer-Encoding: chunked\r\n', `10000000000000005\r\nhello\r\n0\r\n\r\n${smuggled(p)}`)], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'chunk size 0x5 prefix', steps: (p) => [post(p, 'Transfer-Encoding: chunked\r\n', '0x5\r\nhello\r\n0\r\n\r\n')], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'chunk extension 5;foo=bar', steps: (p) => [post(p, 'Transfer-Encoding: chunked\r\n', '5;foo=bar\r\nhello\r\n0\r\n\r\n')], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: answered(200) }), backend: byListener({ '20.30': [], '20.57': [], node: [{ method: 'POST', path: '', body: 'hello' }] }) },
  // uWS does not check the two bytes after chunk data (docs/uws.md §3); the body it decodes is what goes on.
  { name: 'chunk data not followed by CRLF', steps: (p) => [post(p, 'Transfer-Encoding: chunked\r\n', '5\r\nhelloXX0\r\n\r\n')], client: byListener({ '20.30': answered(200), '20.57': answered(200), node: refused }), backend: byListener({ '20.30': [{ method: 'POST', path: '', body: 'hello' }], '20.57': [{ method: 'POST', path: '', body: 'hello' }], node: [] }) },
  { name: 'chunk data not followed by CRLF, a request after it', steps: (p) => [post(p, 'Transfer-Encoding: chunked\r\n', `5\r\nhello0\r\n\r\n${smuggled(p)}`)], client: byListener({ '20.30': dropped, '20.57': dropped, node: refused }), backend: [], maybe: [''] },
  { name: 'chunked body never terminated', steps: (p) => [post(p, 'Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n')], client: refusedBy(408), backend: [] },

  // Header injection and line endings.
  { name: 'bare CR in a header value', steps: (p) => [post(p, 'X-A: a\rContent-Length: 5\r\n', 'hello')], client: byListener({ '20.30': dropped, '20.57': dropped, node: refused }), backend: [], waitMs: ENGINE_IDLE_WAIT },
  { name: 'bare LF in a header value', steps: (p) => [post(p, 'X-A: a\nContent-Length: 5\r\n', 'hello')], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'NUL in a header value', steps: (p) => [get(p, 'X-A: a\x00b\r\n')], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'control character 0x01 in a header value', steps: (p) => [get(p, 'X-A: a\x01b\r\n')], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'bare LF line endings', steps: (p) => [`GET ${p} HTTP/1.1\nHost: app.test\n\n`], client: byListener({ '20.30': dropped, '20.57': engineAnswers(505), node: refused }), backend: [] },
  { name: 'obs-fold continuation line', steps: (p) => [get(p, 'X-A: a\r\n b\r\n')], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },
  // On uWS the POST is bodiless (the Content-Length is hidden, as in the KNOWN LIMIT case below) and the body reads
  // as a request behind it, so uWS drops the connection. The bodiless POST may reach the backend first (a pooled
  // backend connection takes it at once; seen in 1 of 4 runs); the smuggled request never does.
  { name: 'empty header name, then Content-Length and a request as body', steps: (p) => [post(p, `: x\r\nContent-Length: ${smuggled(p).length}\r\n`, smuggled(p))], client: refusedOrDropped, backend: [], maybe: byListener({ '20.30': [''], '20.57': [''], node: [] }) },
  // uWS shows no trace of an empty-name line: it and every header after it are simply not there (docs/uws.md §3).
  { name: 'empty header name alone', steps: (p) => [get(p, ': x\r\nX-After: 1\r\n')], client: byListener({ '20.30': answered(200), '20.57': answered(200), node: refused }), backend: byListener({ '20.30': [{ method: 'GET', path: '' }], '20.57': [{ method: 'GET', path: '' }], node: [] }) },
  // KNOWN LIMIT, not fixable above uWS: the hidden Content-Length leaves a bodiless POST, and a body that arrives
  // after its answer is parsed as the next request. Only a client (or a lenient proxy in front) that sends an
  // empty field name can do this; RFC 9112 §5 proxies refuse it. If uWS ever changes, this case says so.
  { name: 'KNOWN LIMIT: empty header name, Content-Length after it, the body after the answer', steps: (p) => [post(p, `: x\r\nContent-Length: ${smuggled(p).length}\r\n`), { responses: 1 }, smuggled(p)], client: byListener({ '20.30': answered(200, 200), '20.57': answered(200, 200), node: refused }), backend: byListener({ '20.30': [{ method: 'POST', path: '' }, { method: 'GET', path: '/smuggled' }], '20.57': [{ method: 'POST', path: '' }, { method: 'GET', path: '/smuggled' }], node: [] }) },
  { name: 'two Host headers', steps: (p) => [get(p, 'Host: evil.test\r\n')], client: byListener({ '20.30': refused, '20.57': engineAnswers(400), node: refused }), backend: [] },
  { name: 'DEL in the path', steps: (p) => [get(`${p}/a\x7fb`)], client: answered(400), backend: [] },
  { name: 'DEL in the query', steps: (p) => [get(`${p}?a=\x7f`)], client: answered(400), backend: [] },
  { name: 'control character 0x01 in the query', steps: (p) => [get(`${p}?a=\x01`)], client: byListener({ '20.30': dropped, '20.57': engineAnswers(505), node: refused }), backend: [] },
  { name: 'Connection naming Content-Length, Host and Transfer-Encoding', steps: (p) => [post(p, 'Connection: content-length, host, transfer-encoding\r\nContent-Length: 5\r\n', 'hello')], client: answered(200), backend: [{ method: 'POST', path: '', body: 'hello', framing: 'length' }] },
  { name: 'space in the request target', steps: (p) => [`GET ${p}/a b HTTP/1.1\r\n${HOST}\r\n`], client: byListener({ '20.30': dropped, '20.57': engineAnswers(505), node: refused }), backend: [] },

  // Request lines uWS does not take.
  { name: 'HTTP/1.0', steps: (p) => [`GET ${p} HTTP/1.0\r\n${HOST}\r\n`], client: byListener({ '20.30': dropped, '20.57': engineAnswers(505), node: { statuses: [[200]], closed: true } }), backend: byListener({ '20.30': [], '20.57': [], node: [{ method: 'GET', path: '' }] }) },
  { name: 'absolute-form target', steps: (p) => [`GET http://app.test${p} HTTP/1.1\r\n${HOST}\r\n`], client: byListener({ '20.30': dropped, '20.57': engineAnswers(505), node: answered(200) }), backend: byListener({ '20.30': [], '20.57': [], node: [{ method: 'GET', path: '' }] }) },
  { name: 'lower-case method', steps: (p) => [`get ${p} HTTP/1.1\r\n${HOST}\r\n`], client: byListener({ '20.30': dropped, '20.57': answered(405), node: refused }), backend: [] },
  { name: 'PURGE', steps: (p) => [`PURGE ${p} HTTP/1.1\r\n${HOST}\r\n`], client: byListener({ '20.30': dropped, '20.57': answered(405), node: answered(405) }), backend: [] },
  { name: 'no Host header', steps: (p) => [`GET ${p} HTTP/1.1\r\n\r\n`], client: byListener({ '20.30': dropped, '20.57': engineAnswers(400), node: refused }), backend: [] },

  // Pipelining behind a request still in flight (the backend holds /slow 2 s): uWS closes the connection; node answers
  // both, in order.
  { name: 'two requests in one write, the first pending', steps: (p) => [get(`${p}/slow`) + get(`${p}/second`)], client: byListener({ '20.30': dropped, '20.57': dropped, node: answered(200, 200) }), backend: byListener({ '20.30': [], '20.57': [], node: [{ method: 'GET', path: '/slow' }, { method: 'GET', path: '/second' }] }), maybe: byListener({ '20.30': ['/slow', '/second'], '20.57': ['/slow', '/second'], node: [] }) },
  { name: 'a second request 50 ms behind a pending one', steps: (p) => [get(`${p}/slow`), 50, post(`${p}/second`, 'Content-Length: 5\r\n', 'hello')], client: byListener({ '20.30': dropped, '20.57': dropped, node: answered(200, 200) }), backend: byListener({ '20.30': [], '20.57': [], node: [{ method: 'GET', path: '/slow' }, { method: 'POST', path: '/second', body: 'hello' }] }), maybe: byListener({ '20.30': ['/slow'], '20.57': ['/slow'], node: [] }) },

  // Oversized heads (docs/uws.md §3: about 4 KB once split, 48 header lines).
  // Whether uWS gets several reads depends on the machine's load: a head whose pieces coalesce into one read is
  // accepted (as one request, which is also fine). The pauses make several reads the usual case.
  { name: 'head over 4 KB in 1 KB writes', steps: (p) => trickle(get(p, `X-Big: ${'a'.repeat(4200)}\r\n`), 1024, 250), client: { statuses: [[], [200]], closed: 'either' }, backend: [], maybe: [''] },
  { name: 'head of 64 KB in one write', steps: (p) => [get(p, `X-Big: ${'a'.repeat(64 * 1024)}\r\n`)], client: byListener({ '20.30': refusedBy(431), '20.57': engineAnswers(431), node: refusedBy(431) }), backend: [] },
  { name: '48 header lines (Host included)', steps: (p) => [get(p, manyHeaders(47))], client: answered(200), backend: [{ method: 'GET', path: '' }] },
  { name: '49 header lines', steps: (p) => [get(p, manyHeaders(48))], client: byListener({ '20.30': dropped, '20.57': answered(200), node: answered(200) }), backend: byListener({ '20.30': [], '20.57': [{ method: 'GET', path: '' }], node: [{ method: 'GET', path: '' }] }) },
  // Over limits.max_headers (64 by default): Switchyard's 431 where the engine lets that many through.
  { name: '65 header lines', steps: (p) => [get(p, manyHeaders(64))], client: byListener({ '20.30': dropped, '20.57': refusedBy(431), node: refusedBy(431) }), backend: [] },
  { name: '99 header lines', steps: (p) => [get(p, manyHeaders(98))], client: byListener({ '20.30': dropped, '20.57': engineAnswers(431), node: refusedBy(431) }), backend: [] },

  // Slow clients: bounded at about 14 s of sending.
  { name: 'slow head: 1 byte every 200 ms', steps: (p) => trickle(get(p, `X-Slow: ${'s'.repeat(200)}\r\n`), 1, 200).slice(0, 140), client: byListener({ '20.30': dropped, '20.57': dropped, node: refusedBy(408) }), backend: [], waitMs: ENGINE_IDLE_WAIT },
  // 20.30 cuts uploads under 16 KB/s; 20.57 only a body that is still arriving after about 32 s. Switchyard cuts a body
  // that stalls for limits.body_timeout (below), not a slow one.
  { name: 'slow body: 1 KB every 200 ms of 64 KB (5 KB/s)', steps: (p) => [post(p, 'Content-Length: 65536\r\n'), ...trickle('b'.repeat(65536), 1024, 200).slice(0, 140)], client: byListener({ '20.30': dropped, '20.57': answered(200), node: answered(200) }), backend: byListener({ '20.30': [], '20.57': [{ method: 'POST', path: '', body: 'b'.repeat(65536) }], node: [{ method: 'POST', path: '', body: 'b'.repeat(65536) }] }) },
  { name: 'a body that stalls past limits.body_timeout (10 s)', steps: (p) => [post(p, 'Content-Length: 10\r\n', 'hello')], client: refusedBy(408), backend: [] }
]

test('raw framing and injection cases', { concurrency: true, timeout: 120_000 }, async (t) => {
  const backend = await startRawBackend(t, { delayMs: (target) => target.endsWith('/slow') ? 2000 : 0 })
  const proxy = await startProxy(t, { workers: 2, upstreams: { a: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'a' }] })
  const before = await vitals(proxy.adminUrl)
  assert.equal(before.pids.length, 2)

  await Promise.all(cases.map(async (c, i) => {
    await t.test(c.name, async (tt) => {
      const p = `/case${i}`
      const seen: Observed = await converse(proxy.port, c.steps(p), c.waitMs ?? 16_000, Math.max(1, ...c.client.statuses.map((s) => s.length)))
      tt.diagnostic(`${c.name}: statuses ${JSON.stringify(seen.statuses)} closed ${String(seen.closed)} reset ${String(seen.reset)} after ${seen.closedAfterMs} ms`)
      tt.diagnostic(`${c.name}: backend got ${JSON.stringify(backend.forCase(p).map((r) => [r.method, r.target.slice(p.length), r.body.toString('latin1').slice(0, 20)]))}`)
      assert.ok(c.client.statuses.some((s) => s.length === seen.statuses.length && s.every((x, j) => x === seen.statuses[j])),
        `client got ${JSON.stringify(seen.statuses)}, expected one of ${JSON.stringify(c.client.statuses)}: ${JSON.stringify(seen.text.slice(0, 300))}`)
      if (c.client.closed !== 'either') assert.equal(seen.closed, c.client.closed, `connection closed: ${String(seen.closed)}`)
      // Still serving, same workers.
      assert.equal(await plainGet(proxy.port, `${p}/after`), 200)
      const now = await vitals(proxy.adminUrl)
      assert.deepEqual(now.pids, before.pids, 'a worker was replaced')
      assert.equal(now.restarts, 0)
      const got = backend.forCase(p).filter((r) => r.target !== `${p}/after` && !(c.maybe ?? []).some((m) => r.target === p + m))
      assert.deepEqual(got.map((r, j) => ({ method: r.method, path: r.target.slice(p.length), body: r.body.toString('latin1'), ...(c.backend[j]?.framing === undefined ? {} : { framing: r.framing }) })),
        c.backend.map((s) => ({ method: s.method, path: s.path, body: s.body ?? '', ...(s.framing === undefined ? {} : { framing: s.framing }) })), 'what the backend received')
      for (const r of got) assert.equal(r.headers.filter(([n]) => n === 'host').length, 1, `Host headers the backend got: ${JSON.stringify(r.headers)}`)
    })
  }))
  assert.deepEqual(backend.malformed, [], 'the backend got a request it could not frame')
})
