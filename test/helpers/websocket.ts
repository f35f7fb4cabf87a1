// WebSocket backends for tests: a real `ws` echo server that records each handshake and can broadcast, and a
// backend that refuses every upgrade with a status and body. Each closes itself in t.after.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import type { TestContext } from 'node:test'
import WebSocket, { WebSocketServer } from 'ws'

type Ctx = Pick<TestContext, 'after'>

export interface WsBackend {
  readonly url: string
  readonly port: number
  readonly wss: WebSocketServer
  /** Each accepted handshake's request, in order. */
  readonly handshakes: IncomingMessage[]
  /** Close codes and reasons the backend received, in order. */
  readonly closes: Array<{ code: number, reason: string }>
  /** Sends `data` to every open socket. */
  broadcast (data: string | Buffer): void
  close (): Promise<void>
}

export interface WsBackendOptions {
  /** Picks the subprotocol among those offered (default: the last offered, so a proxy that guesses the first is caught). */
  readonly pick?: (offered: Set<string>) => string | false
  /** Runs for each new socket instead of echoing. */
  readonly onSocket?: (ws: WebSocket, req: IncomingMessage) => void
  readonly maxPayload?: number
  readonly port?: number
}

/** A `ws` server on 127.0.0.1 that echoes every message back as it came (text stays text, binary stays binary). */
export async function startWsBackend (t: Ctx, o: WsBackendOptions = {}): Promise<WsBackend> {
  const server: Server = createServer((_req, res) => { res.end('plain http') })
  const handshakes: IncomingMessage[] = []
  const closes: Array<{ code: number, reason: string }> = []
  const wss = new WebSocketServer({
    server,
    maxPayload: o.maxPayload ?? 64 * 1024 * 1024,
    perMessageDeflate: false,
    handleProtocols: o.pick ?? ((offered) => { const all = [...offered]; return all.length === 0 ? false : all[all.length - 1]! })
  })
  wss.on('connection', (ws, req) => {
    handshakes.push(req)
    ws.on('close', (code, reason) => { closes.push({ code, reason: reason.toString() }) })
    if (o.onSocket !== undefined) { o.onSocket(ws, req); return }
    ws.on('message', (data, isBinary) => { ws.send(data as Buffer, { binary: isBinary }) })
  })
  server.listen(o.port ?? 0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  let closed = false
  const h: WsBackend = {
    url: `http://127.0.0.1:${port}`,
    port,
    wss,
    handshakes,
    closes,
    broadcast (data) { for (const c of wss.clients) c.send(data) },
    async close () {
      if (closed) return
      closed = true
      for (const c of wss.clients) c.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
  t.after(() => h.close())
  return h
}

/** A backend that answers every upgrade with `status`, a header and `body` (and plain requests the same). */
export async function startRefusingBackend (t: Ctx, status: number, body: string): Promise<{ url: string, close: () => Promise<void> }> {
  const server = createServer((_req, res) => { res.writeHead(status, { 'content-type': 'text/plain', 'x-refused-by': 'backend' }).end(body) })
  server.on('upgrade', (_req, socket) => {
    const b = Buffer.from(body)
    socket.end(`HTTP/1.1 ${status} Refused\r\ncontent-type: text/plain\r\nx-refused-by: backend\r\ncontent-length: ${b.length}\r\nconnection: close\r\n\r\n${body}`)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  const close = async (): Promise<void> => { server.closeAllConnections(); await new Promise<void>((resolve) => server.close(() => resolve())) }
  t.after(close)
  return { url: `http://127.0.0.1:${port}`, close }
}

export interface Refusal { status: number, headers: IncomingMessage['headers'], body: string }

/** Opens a client WebSocket; resolves it once open, or the refusal the handshake got. */
export async function openWs (url: string, protocols: string[] = [], options: WebSocket.ClientOptions = {}): Promise<WebSocket | Refusal> {
  const ws = new WebSocket(url, protocols, { perMessageDeflate: false, ...options })
  return await new Promise((resolve, reject) => {
    ws.once('open', () => { resolve(ws) })
    ws.once('unexpected-response', (req, res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { req.destroy(); resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }) })
    })
    ws.once('error', reject)
  })
}

/** Opens a client WebSocket that must succeed; closes it in t.after. */
export async function mustOpen (t: Ctx, url: string, protocols: string[] = [], options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const ws = await openWs(url, protocols, options)
  if (!(ws instanceof WebSocket)) throw new Error(`handshake refused: ${ws.status} ${ws.body}`)
  t.after(() => { ws.terminate() })
  return ws
}

/** The next message on `ws`, with whether it was binary. */
export async function nextMessage (ws: WebSocket): Promise<{ data: Buffer, binary: boolean }> {
  const [data, binary] = await once(ws, 'message') as [Buffer, boolean]
  return { data, binary }
}

/** Resolves the close code and reason `ws` got. */
export async function closed (ws: WebSocket): Promise<{ code: number, reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) throw new Error('already closed')
  const [code, reason] = await once(ws, 'close') as [number, Buffer]
  return { code, reason: reason.toString() }
}

export function wsUrl (httpUrl: string, path = '/'): string {
  return `ws${httpUrl.slice(4)}${path}`
}
