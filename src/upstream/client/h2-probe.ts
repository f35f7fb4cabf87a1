// One GET over a new HTTP/2 connection for the primary's active health checks of h2 and h2c upstreams (their
// servers may not speak HTTP/1.1 at all, as gRPC servers do not), with the upstream's TLS settings and ALPN h2.
import { connect, type ClientHttp2Session } from 'node:http2'
import { connect as tlsConnect } from 'node:tls'
import type { ServerAddress } from './connection.ts'
import type { ProbeOutcome } from './probe.ts'

/** GET `path` on `address` over HTTP/2 (TLS when the address has it, else prior knowledge); settles within `timeoutMs`. */
export async function probeServerH2 (address: ServerAddress, path: string, host: string, timeoutMs: number): Promise<ProbeOutcome> {
  return await new Promise<ProbeOutcome>((resolve) => {
    const tls = address.tls
    const origin = `${tls === undefined ? 'http' : 'https'}://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`
    const session: ClientHttp2Session = tls === undefined
      ? connect(origin)
      : connect(origin, { createConnection: () => tlsConnect({ ...tls, host: address.host, port: address.port, ALPNProtocols: ['h2'] }) })
    let settled = false
    const finish = (o: ProbeOutcome): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      session.destroy()
      resolve(o)
    }
    const timer = setTimeout(() => { finish({ reason: `no answer within ${timeoutMs} ms` }) }, timeoutMs)
    session.on('error', (err: Error & { code?: string }) => { finish({ reason: err.code ?? 'UPSTREAM_CLOSED' }) })
    session.on('close', () => { finish({ reason: 'UPSTREAM_CLOSED' }) })
    // After connect: a stream queued before it would fail as ERR_HTTP2_STREAM_CANCEL, hiding the session's reason.
    session.once('connect', () => {
      const req = session.request({ ':method': 'GET', ':path': path, ':authority': host, 'user-agent': 'switchyard-health' }, { endStream: true })
      req.on('response', (h) => { finish({ status: Number(h[':status']) }) })
      req.on('error', (err: Error & { code?: string }) => { finish({ reason: err.code ?? 'UPSTREAM_CLOSED' }) })
    })
  })
}
