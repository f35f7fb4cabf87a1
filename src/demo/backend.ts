// The demo backends that `npm start` puts behind the proxy: each answers with its own name on the first line,
// so `curl localhost:8080/` shows the rotation.
import { createServer, type Server } from 'node:http'

export function createDemoBackend (name: string): Server {
  return createServer((req, res) => {
    let bytes = 0
    req.on('data', (c: Buffer) => { bytes += c.length })
    req.on('end', () => {
      if (req.url === '/healthz') { res.end('ok\n'); return }
      res.setHeader('content-type', 'text/plain; charset=utf-8')
      res.end(`${name}\n${req.method ?? ''} ${req.url ?? ''}${bytes > 0 ? ` (${bytes} bytes received)` : ''}\n` +
        `x-forwarded-for: ${String(req.headers['x-forwarded-for'])}\nx-request-id: ${String(req.headers['x-request-id'])}\n`)
    })
  })
}
