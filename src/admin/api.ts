// The admin API: a small JSON HTTP server in the primary, on its own listener (default 127.0.0.1:9090), never on
// the client port. Every route is a handler the primary wires in; this file only does HTTP: routing, the bearer
// token, body reading and JSON answers.
import { Buffer } from 'node:buffer'
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { timingSafeEqual, createHash } from 'node:crypto'
import { once } from 'node:events'
import type { Logger } from 'pino'

/** A handler's answer: an HTTP status and a JSON body; with `contentType`, `body` is a string sent as it is. */
export interface AdminReply { readonly status: number, readonly body: unknown, readonly contentType?: string }

export type AdminHandler = (params: Readonly<Record<string, string>>, body: unknown, request: { readonly headers: IncomingHttpHeaders }) => AdminReply | Promise<AdminReply>

export interface AdminRoute {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** Path with `:name` segments, e.g. `/api/upstreams/:name/servers`. */
  readonly path: string
  readonly handler: AdminHandler
  /** Answered without the token (the dashboard page, which holds no data and asks for the token itself). */
  readonly public?: boolean
  /** Takes the response over instead of `handler` (a stream: the dashboard's events); the token still applies. */
  readonly stream?: (res: ServerResponse) => void
}

export interface AdminOptions {
  readonly host: string
  readonly port: number
  /** When set, every request needs `Authorization: Bearer TOKEN`. */
  readonly token: string | undefined
  readonly routes: readonly AdminRoute[]
  readonly log: Logger
}

export interface AdminServer {
  readonly port: number
  close (): Promise<void>
}

const MAX_BODY = 1024 * 1024

interface Compiled { readonly method: string, readonly parts: readonly string[], readonly handler: AdminHandler, readonly public: boolean, readonly stream: ((res: ServerResponse) => void) | undefined }

function match (parts: readonly string[], path: readonly string[]): Record<string, string> | undefined {
  if (parts.length !== path.length) return undefined
  const params: Record<string, string> = {}
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!
    if (p.startsWith(':')) {
      try { params[p.slice(1)] = decodeURIComponent(path[i]!) } catch { return undefined }
    } else if (p !== path[i]) return undefined
  }
  return params
}

/** Starts listening; rejects if the address cannot be bound. */
export async function startAdmin (o: AdminOptions): Promise<AdminServer> {
  const routes: Compiled[] = o.routes.map((r) => ({ method: r.method, parts: r.path.split('/'), handler: r.handler, public: r.public === true, stream: r.stream }))
  // Compared as digests, so the comparison takes the same time whatever the length of the guess.
  const want = o.token === undefined ? undefined : createHash('sha256').update(o.token).digest()
  const authorised = (req: IncomingMessage): boolean => {
    if (want === undefined) return true
    const h = req.headers.authorization
    if (h === undefined || !h.startsWith('Bearer ')) return false
    return timingSafeEqual(createHash('sha256').update(h.slice(7)).digest(), want)
  }

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body, null, 2) + '\n'
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
    res.end(text)
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.log.error({ err, method: req.method, url: req.url }, 'admin request failed')
      if (!res.headersSent) send(res, 500, { error: 'SWY_INTERNAL', message: 'internal error; see the primary log' })
      else res.destroy()
    })
  })
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '').split('/')
    const open = routes.some((r) => r.public && r.method === req.method && match(r.parts, path) !== undefined)
    if (!open && !authorised(req)) {
      req.resume()
      res.setHeader('www-authenticate', 'Bearer realm="switchyard"')
      send(res, 401, { error: 'SWY_ADMIN_UNAUTHORIZED', message: 'a valid Authorization: Bearer token is required' })
      return
    }
    const candidates = routes.map((r) => ({ r, params: match(r.parts, path) })).filter((c) => c.params !== undefined)
    if (candidates.length === 0) { req.resume(); send(res, 404, { error: 'SWY_ADMIN_NOT_FOUND', message: `no admin route ${req.url ?? ''}` }); return }
    const hit = candidates.find((c) => c.r.method === req.method)
    if (hit === undefined) {
      req.resume()
      res.setHeader('allow', candidates.map((c) => c.r.method).join(', '))
      send(res, 405, { error: 'SWY_ADMIN_METHOD', message: `${req.method ?? ''} is not allowed here` })
      return
    }
    if (hit.r.stream !== undefined) { req.resume(); hit.r.stream(res); return }
    let body: unknown
    const chunks: Buffer[] = []
    let size = 0
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length
      if (size > MAX_BODY) { send(res, 413, { error: 'SWY_ADMIN_BODY', message: 'body over 1 MB' }); req.destroy(); return }
      chunks.push(c)
    }
    if (size > 0) {
      try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch {
        send(res, 400, { error: 'SWY_ADMIN_BODY', message: 'the body is not valid JSON' })
        return
      }
    }
    const reply = await hit.r.handler(hit.params!, body, { headers: req.headers })
    if (reply.contentType === undefined) { send(res, reply.status, reply.body); return }
    const raw = String(reply.body)
    res.writeHead(reply.status, { 'content-type': reply.contentType, 'content-length': Buffer.byteLength(raw), 'cache-control': 'no-store' })
    res.end(raw)
  }

  server.listen({ host: o.host, port: o.port, exclusive: true })
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => { throw err as Error })])
  const addr = server.address()
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : o.port,
    async close () {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    }
  }
}
