// Local error answers: the body is the code, its public text and the request id, whatever the fault carried (a
// stack, a backend address, a cause); those go to the log beside the request id.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import pino from 'pino'
import { createLocalReplies } from '../../../src/response/local-reply.ts'
import { Exchange, type Downstream } from '../../../src/pipeline/index.ts'
import { UpstreamError } from '../../../src/errors/index.ts'

class Captured implements Downstream {
  onDrain: (() => void) | null = null
  status = 0
  headers: readonly string[] = []
  body = ''
  start (): void {}
  write (): boolean { return true }
  end (): void {}
  abort (): void {}
  reply (status: number, headers: readonly string[], body: string): void {
    this.status = status
    this.headers = headers
    this.body = body
  }
}

function setup (headers: string[] = []): { ex: Exchange, down: Captured, lines: string[] } {
  const lines: string[] = []
  const log = pino({ level: 'info' }, new Writable({ write (c: Buffer, _e, cb) { lines.push(c.toString()); cb() } }))
  const down = new Captured()
  const ex = new Exchange({
    method: 'GET', path: '/x', query: '', host: 'a', headers, contentLength: -1, contentLengthCount: 0, chunked: false,
    peerIp: '127.0.0.1', tls: false, startTime: 0, body: null, downstream: down, replies: createLocalReplies(log), onComplete: () => {}
  })
  ex.requestId = 'req-1'
  return { ex, down, lines }
}

const SECRET = /10\.0\.0\.5|9001|\bat |secret\.js|boom|ECONNREFUSED/

test('a fault (500) answers the code only: no message, stack or address', async () => {
  const { ex, down, lines } = setup()
  const err = new Error('boom at 10.0.0.5:9001')
  err.stack = 'Error: boom\n    at handler (/srv/secret.js:1:1)'
  ex.fail(err)
  assert.equal(down.status, 500)
  assert.equal(down.body, '{"error":"SWY_INTERNAL","message":"internal error","request_id":"req-1"}\n')
  assert.doesNotMatch(down.body + down.headers.join('\n'), SECRET)
  await new Promise((resolve) => setImmediate(resolve))
  assert.match(lines.join(''), /secret\.js/, 'the stack is in the log')
})

test('an upstream failure (502) answers the code only; the backend and the cause go to the log', async () => {
  const { ex, down, lines } = setup()
  const cause = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:9001'), { code: 'ECONNREFUSED' })
  ex.fail(new UpstreamError('SWY_UPSTREAM_UNREACHABLE', 'http://10.0.0.5:9001', true, cause))
  assert.equal(down.status, 502)
  assert.doesNotMatch(down.body + down.headers.join('\n'), SECRET)
  await new Promise((resolve) => setImmediate(resolve))
  const logged = JSON.parse(lines[0]!) as { upstream: string, reqId: string }
  assert.deepEqual([logged.upstream, logged.reqId], ['http://10.0.0.5:9001', 'req-1'])
})

const GRPC_CASES: Array<{ name: string, input: { contentType: string, code: Parameters<Exchange['reject']>[0] }, expected: { status: string } | null }> = [
  { name: 'backend unreachable: UNAVAILABLE', input: { contentType: 'application/grpc', code: 'SWY_UPSTREAM_UNREACHABLE' }, expected: { status: '14' } },
  { name: 'no healthy server: UNAVAILABLE', input: { contentType: 'application/grpc+proto', code: 'SWY_NO_HEALTHY_UPSTREAM' }, expected: { status: '14' } },
  { name: 'upstream timeout: DEADLINE_EXCEEDED', input: { contentType: 'application/grpc', code: 'SWY_UPSTREAM_TIMEOUT' }, expected: { status: '4' } },
  { name: 'rate limited: RESOURCE_EXHAUSTED', input: { contentType: 'Application/GRPC;charset=x', code: 'SWY_RATE_LIMITED' }, expected: { status: '8' } },
  { name: 'banned: PERMISSION_DENIED', input: { contentType: 'application/grpc', code: 'SWY_BANNED' }, expected: { status: '7' } },
  { name: 'no route: UNIMPLEMENTED', input: { contentType: 'application/grpc', code: 'SWY_ROUTE_NOT_FOUND' }, expected: { status: '12' } },
  { name: 'anything else: INTERNAL', input: { contentType: 'application/grpc', code: 'SWY_UPSTREAM_BAD_RESPONSE' }, expected: { status: '13' } },
  { name: 'gRPC-Web is not answered as gRPC', input: { contentType: 'application/grpc-web', code: 'SWY_UPSTREAM_UNREACHABLE' }, expected: null },
  { name: 'a look-alike type is not gRPC', input: { contentType: 'application/grpcx', code: 'SWY_UPSTREAM_UNREACHABLE' }, expected: null }
]

for (const c of GRPC_CASES) {
  test(`gRPC request, ${c.name}`, () => {
    const { ex, down } = setup(['content-type', c.input.contentType])
    ex.reject(c.input.code, false, ['retry-after', '3'])
    const h = new Map<string, string>()
    for (let i = 0; i < down.headers.length; i += 2) h.set(down.headers[i]!, down.headers[i + 1]!)
    assert.equal(h.get('retry-after'), '3')
    assert.equal(h.get('x-request-id'), 'req-1')
    if (c.expected === null) {
      assert.notEqual(down.status, 200)
      assert.equal(h.get('grpc-status'), undefined)
      return
    }
    // Trailers-only: HTTP 200, no body, the status and message in the head.
    assert.deepEqual([down.status, down.body, h.get('content-type'), h.get('grpc-status')], [200, '', 'application/grpc', c.expected.status])
    assert.match(h.get('grpc-message') ?? '', new RegExp(`^${c.input.code}: `))
  })
}
