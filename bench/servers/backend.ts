// Fast node:http backend for load runs: fixed bodies from precomputed Buffers, plus an upload sink.
// Run as `node dist/bench/servers/backend.js --port P [--host 127.0.0.1]`; prints one JSON line when listening.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const BODY_100B = Buffer.alloc(100, 'x')
const BODY_64K = Buffer.alloc(65_536, 'y')

// Flat header arrays skip the per-call object walk in writeHead.
const HEAD_100B = ['content-type', 'application/octet-stream', 'content-length', String(BODY_100B.length)]
const HEAD_64K = ['content-type', 'application/octet-stream', 'content-length', String(BODY_64K.length)]
// A cacheable object for bench/load/cache.ts: what a cache in front serves without asking again for an hour.
const BODY_1K = Buffer.alloc(1024, 'c')
const HEAD_1K_CACHED = ['content-type', 'application/octet-stream', 'content-length', String(BODY_1K.length), 'cache-control', 'max-age=3600', 'etag', '"bench-1k"']
const NOT_FOUND = Buffer.from('not found\n')
const HEAD_404 = ['content-type', 'text/plain', 'content-length', String(NOT_FOUND.length)]

/** A running bench backend. */
export interface BenchBackend {
  readonly server: Server
  readonly port: number
  readonly url: string
  close (): Promise<void>
}

function handle (req: IncomingMessage, res: ServerResponse): void {
  const { method, url } = req
  if (method === 'GET' && url === '/100b') {
    res.writeHead(200, HEAD_100B)
    res.end(BODY_100B)
    return
  }
  if (method === 'GET' && url === '/64k') {
    res.writeHead(200, HEAD_64K)
    res.end(BODY_64K)
    return
  }
  if ((method === 'GET' || method === 'HEAD') && url === '/cached-1k') {
    res.writeHead(200, HEAD_1K_CACHED)
    res.end(method === 'HEAD' ? undefined : BODY_1K)
    return
  }
  if (method === 'POST' && url === '/upload') {
    let bytes = 0
    req.on('data', (chunk: Buffer) => { bytes += chunk.length })
    req.on('end', () => {
      const body = Buffer.from(`{"bytes":${bytes}}`)
      res.writeHead(200, ['content-type', 'application/json', 'content-length', String(body.length)])
      res.end(body)
    })
    return
  }
  // Drain anything else so keep-alive connections stay usable.
  req.resume()
  res.writeHead(404, HEAD_404)
  res.end(NOT_FOUND)
}

/**
 * Starts the bench backend on `host:port` (port 0 picks a free one).
 * Idle keep-alive connections are kept for a minute so proxies' upstream pools are not cut mid-run.
 */
export async function startBenchBackend (port: number, host = '127.0.0.1'): Promise<BenchBackend> {
  const server = createServer({ keepAliveTimeout: 60_000 }, handle)
  server.headersTimeout = 65_000
  server.requestTimeout = 0
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host, backlog: 1024 }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = (server.address() as AddressInfo).port
  return {
    server,
    port: bound,
    url: `http://${host}:${bound}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' }
    }
  })
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--port: not a port: ${values.port}`)
  const backend = await startBenchBackend(port, values.host)
  process.stdout.write(JSON.stringify({ event: 'listening', port: backend.port }) + '\n')
  const stop = (): void => { backend.close().then(() => process.exit(0), () => process.exit(1)) }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
