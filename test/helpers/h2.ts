// HTTP/2 clients for tests: node:http2 sessions to an h2c or TLS listener, and one request on a session.
import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'

export interface H2Options {
  /** PEM file of the CA to trust (TLS). */
  readonly ca?: string
  /** TLS server name (SNI); default: the URL's host. */
  readonly servername?: string
}

/** A session to `origin` (`http://` is h2c with prior knowledge, `https://` negotiates h2 by ALPN). */
export async function h2Connect (origin: string, o: H2Options = {}): Promise<ClientHttp2Session> {
  const session = connect(origin, {
    ...(o.ca === undefined ? {} : { ca: readFileSync(o.ca) }),
    ...(o.servername === undefined ? {} : { servername: o.servername })
  })
  session.on('error', () => {})
  await Promise.race([once(session, 'connect'), once(session, 'close').then(() => { throw new Error(`h2 session to ${origin} closed before connecting`) })])
  return session
}

export interface H2Result {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly trailers: IncomingHttpHeaders
  readonly body: Buffer
}

/** One request on `session`: `headers` holds :path and the rest (:method defaults to GET); `body` is sent whole. */
export async function h2Request (session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer | string, timeoutMs = 10_000): Promise<H2Result> {
  const stream = session.request({ ':method': 'GET', ...headers }, { endStream: body === undefined })
  if (body !== undefined) stream.end(body)
  return await new Promise<H2Result>((resolve, reject) => {
    const timer = setTimeout(() => { stream.close(); reject(new Error(`h2 ${String(headers[':path'])}: no answer within ${timeoutMs} ms`)) }, timeoutMs)
    let head: IncomingHttpHeaders = {}
    let trailers: IncomingHttpHeaders = {}
    const chunks: Buffer[] = []
    stream.on('response', (h) => { head = h })
    stream.on('trailers', (t) => { trailers = t })
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('error', (err) => { clearTimeout(timer); reject(err) })
    stream.on('end', () => {
      clearTimeout(timer)
      resolve({ status: Number(head[':status']), headers: head, trailers, body: Buffer.concat(chunks) })
    })
  })
}
