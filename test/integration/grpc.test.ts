// gRPC end to end through real processes: a @grpc/grpc-js server (insecure, h2c) behind an upstream with protocol
// h2c, and grpc-js clients on Switchyard's h2c listener and on its TLS listener (ALPN h2, the test CA as root).
// Every call shape passes, a handler's error status and message reach the client (trailers intact), and Switchyard's
// own failures (backend stopped, response timeout) arrive as gRPC statuses, not HTTP errors.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import { freePort, startProxy } from '../helpers/index.ts'
import { createPki } from '../helpers/certs.ts'

type Ctx = Parameters<typeof startProxy>[0]

const raw = { serialize: (b: Buffer): Buffer => b, deserialize: (b: Buffer): Buffer => b }

/** The service, with raw bytes as messages (no .proto needed: the proxy never looks inside them). */
function method (name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path: `/switchyard.test.Echo/${name}`,
    requestStream,
    responseStream,
    requestSerialize: raw.serialize,
    requestDeserialize: raw.deserialize,
    responseSerialize: raw.serialize,
    responseDeserialize: raw.deserialize,
    originalName: name
  }
}

const SERVICE = {
  unary: method('Unary', false, false),
  fail: method('Fail', false, false),
  slow: method('Slow', false, false),
  serverStream: method('ServerStream', false, true),
  clientStream: method('ClientStream', true, false),
  bidi: method('Bidi', true, true)
} satisfies grpc.ServiceDefinition

/** Messages the server stream sends, and their size: enough to fill the flow-control windows on the way. */
const STREAMED = 64
const STREAMED_SIZE = 64 * 1024

interface GrpcBackend { readonly url: string, stop (): Promise<void> }

async function startGrpcBackend (t: Ctx): Promise<GrpcBackend> {
  const server = new grpc.Server()
  server.addService(SERVICE, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      cb(null, Buffer.concat([Buffer.from('echo:'), call.request]))
    },
    fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      cb({ code: grpc.status.NOT_FOUND, details: 'no such greeting' })
    },
    slow: () => { /* never answers: the proxy's response timeout ends the call */ },
    serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      for (let i = 0; i < STREAMED; i++) call.write(Buffer.alloc(STREAMED_SIZE, i))
      call.end()
    },
    clientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const parts: string[] = []
      call.on('data', (d: Buffer) => parts.push(d.toString()))
      call.on('end', () => { cb(null, Buffer.from(parts.join(','))) })
    },
    bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (d: Buffer) => { call.write(Buffer.concat([Buffer.from('re:'), d])) })
      call.on('end', () => { call.end() })
    }
  })
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => { if (err === null) resolve(p); else reject(err) })
  })
  let stopped: Promise<void> | null = null
  const stop = async (): Promise<void> => {
    stopped ??= new Promise<void>((resolve) => { server.forceShutdown(); resolve() })
    await stopped
  }
  t.after(stop)
  return { url: `http://127.0.0.1:${port}`, stop }
}

type EchoClient = grpc.Client & Record<keyof typeof SERVICE, (...args: unknown[]) => unknown>
const EchoClient = grpc.makeGenericClientConstructor(SERVICE, 'Echo') as unknown as new (target: string, creds: grpc.ChannelCredentials) => EchoClient

function client (t: Ctx, target: string, creds: grpc.ChannelCredentials): EchoClient {
  const c = new EchoClient(target, creds)
  t.after(() => { c.close() })
  return c
}

async function unary (c: EchoClient, name: 'unary' | 'fail' | 'slow', msg: Buffer): Promise<Buffer> {
  return await new Promise<Buffer>((resolve, reject) => {
    (c[name] as (m: Buffer, cb: (err: grpc.ServiceError | null, r?: Buffer) => void) => void)(msg, (err, r) => { if (err !== null) reject(err); else resolve(r!) })
  })
}

async function serverStream (c: EchoClient): Promise<{ messages: Buffer[], status: grpc.StatusObject }> {
  const call = (c.serverStream as (m: Buffer) => grpc.ClientReadableStream<Buffer>)(Buffer.from('go'))
  const messages: Buffer[] = []
  let slow = 0
  call.on('data', (d: Buffer) => {
    messages.push(d)
    // A slow reader for the first messages: the proxy holds the backend back, and the status still comes last.
    if (slow++ < 8) { call.pause(); setTimeout(() => call.resume(), 10) }
  })
  const status = await new Promise<grpc.StatusObject>((resolve, reject) => {
    call.on('status', resolve)
    call.on('error', reject)
  })
  return { messages, status }
}

async function clientStream (c: EchoClient, parts: readonly string[]): Promise<Buffer> {
  return await new Promise<Buffer>((resolve, reject) => {
    const call = (c.clientStream as (cb: (err: grpc.ServiceError | null, r?: Buffer) => void) => grpc.ClientWritableStream<Buffer>)((err, r) => { if (err !== null) reject(err); else resolve(r!) })
    for (const p of parts) call.write(Buffer.from(p))
    call.end()
  })
}

async function bidi (c: EchoClient, parts: readonly string[]): Promise<string[]> {
  const call = (c.bidi as () => grpc.ClientDuplexStream<Buffer, Buffer>)()
  const got: string[] = []
  // One at a time: each answer arrives before the next message goes, so the stream is really interactive.
  for (const p of parts) {
    const answer = new Promise<Buffer>((resolve, reject) => { call.once('data', resolve); call.once('error', reject) })
    call.write(Buffer.from(p))
    got.push((await answer).toString())
  }
  const done = new Promise<void>((resolve, reject) => { call.on('status', () => resolve()); call.on('error', reject) })
  call.end()
  await done
  return got
}

/** A proxy with an h2c listener and a TLS listener (HTTP/2 by ALPN) in front of an h2c upstream. */
async function grpcProxy (t: Ctx, backendUrl: string, extra: Record<string, unknown> = {}): Promise<{ h2c: string, tls: string, ca: Buffer }> {
  const pki = createPki(t)
  const site = pki.issue('proxy.test', { sans: ['DNS:proxy.test', 'IP:127.0.0.1'] })
  const [p1, p2] = [await freePort(), await freePort()]
  await startProxy(t, {
    listen: [{ host: '127.0.0.1', port: p1, h2c: true }, { host: '127.0.0.1', port: p2, tls: { cert: site.cert, key: site.key } }],
    upstreams: { grpc: { protocol: 'h2c', retries: 0, servers: [{ url: backendUrl }], ...extra } },
    routes: [{ upstream: 'grpc' }]
  })
  return { h2c: `127.0.0.1:${p1}`, tls: `127.0.0.1:${p2}`, ca: readFileSync(pki.ca) }
}

test('gRPC through the h2c and the TLS listener: unary, server, client and bidi streaming; an error status with its message', async (t) => {
  const backend = await startGrpcBackend(t)
  const proxy = await grpcProxy(t, backend.url)
  const clients = {
    h2c: client(t, proxy.h2c, grpc.credentials.createInsecure()),
    tls: client(t, proxy.tls, grpc.credentials.createSsl(proxy.ca))
  }
  for (const [via, c] of Object.entries(clients)) {
    assert.equal((await unary(c, 'unary', Buffer.from('hi'))).toString(), 'echo:hi', via)

    const s = await serverStream(c)
    assert.equal(s.status.code, grpc.status.OK, via)
    assert.equal(s.messages.length, STREAMED, via)
    s.messages.forEach((m, i) => { assert.ok(m.length === STREAMED_SIZE && m[0] === i && m[STREAMED_SIZE - 1] === i, `${via} message ${i}`) })

    assert.equal((await clientStream(c, ['a', 'b', 'c'])).toString(), 'a,b,c', via)
    assert.deepEqual(await bidi(c, ['x', 'y', 'z']), ['re:x', 're:y', 're:z'], via)

    await assert.rejects(unary(c, 'fail', Buffer.from('?')), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.NOT_FOUND, via)
      assert.equal(err.details, 'no such greeting', via)
      return true
    })
  }
})

test('gRPC: Switchyard\'s own failures are gRPC statuses: UNAVAILABLE with the backend stopped, DEADLINE_EXCEEDED on a response timeout', async (t) => {
  const backend = await startGrpcBackend(t)
  const proxy = await grpcProxy(t, backend.url, { timeouts: { response: '1s' } })
  const c = client(t, proxy.h2c, grpc.credentials.createInsecure())
  const tls = client(t, proxy.tls, grpc.credentials.createSsl(proxy.ca))

  await assert.rejects(unary(c, 'slow', Buffer.from('?')), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED)
    assert.match(err.details, /SWY_UPSTREAM_TIMEOUT/)
    assert.ok(typeof err.metadata.get('x-request-id')[0] === 'string')
    return true
  })

  await backend.stop()
  for (const [via, cl] of [['h2c', c], ['tls', tls]] as const) {
    await assert.rejects(unary(cl, 'unary', Buffer.from('hi')), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.UNAVAILABLE, via)
      assert.match(err.details, /SWY_UPSTREAM_(UNREACHABLE|RESET)/, via)
      return true
    })
  }
})
