// HTTP/2 on both sides of the proxy in tests: node:http2 backends (h2c, or TLS with ALPN h2) and a client request
// that also collects the response's trailers.
import { connect, createServer, createSecureServer, type ClientHttp2Session, type Http2Server, type Http2SecureServer, type IncomingHttpHeaders, type ServerHttp2Stream, type SecureServerOptions } from 'node:http2'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import type { TestContext } from 'node:test'

type Ctx = Pick<TestContext, 'after'>

export type StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void

export interface H2Backend {
  readonly url: string
  readonly port: number
  /** Streams opened on it so far. */
  readonly streams: number
  close (): Promise<void>
}

/**
 * A node:http2 backend on 127.0.0.1: cleartext (h2c, prior knowledge) without `tls`, else TLS with ALPN h2 only.
 * `handler` gets each stream (the core API: trailers and resets are the test's to send).
 */
export async function startH2Backend (t: Ctx, handler: StreamHandler, tls?: SecureServerOptions, port = 0): Promise<H2Backend> {
  const server: Http2Server | Http2SecureServer = tls === undefined ? createServer() : createSecureServer({ ...tls, allowHTTP1: false })
  const sessions = new Set<import('node:http2').ServerHttp2Session>()
  let streams = 0
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)) })
  server.on('stream', (stream, headers) => { streams++; handler(stream, headers) })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  const bound = (server.address() as AddressInfo).port
  let closed: Promise<void> | null = null
  const h: H2Backend = {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${bound}`,
    port: bound,
    get streams () { return streams },
    async close () {
      closed ??= new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy()
        server.close(() => { resolve() })
      })
      await closed
    }
  }
  t.after(() => h.close())
  return h
}

export interface H2Result {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
  /** The trailers, or null when none came. */
  readonly trailers: IncomingHttpHeaders | null
  /** The HEADERS frame that started the answer also ended the stream (a trailers-only answer). */
  readonly endedInHead: boolean
}

/** Opens an HTTP/2 session to `origin` (h2c for http://), closed in t.after. */
export function h2Session (t: Ctx, origin: string, ca?: Buffer): ClientHttp2Session {
  const s = ca === undefined ? connect(origin) : connect(origin, { ca })
  s.on('error', () => {})
  t.after(() => { s.destroy() })
  return s
}

/** One request on `session`; `body` is written in one piece, or streamed by the caller through `write`. */
export async function h2Request (session: ClientHttp2Session, path: string, o: { method?: string, headers?: Record<string, string>, body?: Buffer } = {}): Promise<H2Result> {
  const req = session.request({ ':method': o.method ?? 'GET', ':path': path, ...o.headers }, { endStream: o.body === undefined })
  if (o.body !== undefined) req.end(o.body)
  const chunks: Buffer[] = []
  let trailers: IncomingHttpHeaders | null = null
  // Every listener before the first await: the answer's frames may all be handled in one read.
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('trailers', (h: IncomingHttpHeaders) => { trailers = h })
  const response = once(req, 'response') as Promise<[IncomingHttpHeaders, number]>
  const ended = once(req, 'end')
  const [headers, flags] = await response
  await ended
  return { status: Number(headers[':status']), headers, body: Buffer.concat(chunks), trailers, endedInHead: (flags & 1) === 1 }
}
