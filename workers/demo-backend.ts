// Process entry for one demo backend: `node dist/workers/demo-backend.js NAME PORT [HOST]` (HOST defaults to 127.0.0.1).
import { createDemoBackend } from '../src/demo/index.ts'

const [name = 'backend', port = '9001', host = '127.0.0.1'] = process.argv.slice(2)
const server = createDemoBackend(name)
server.on('error', (err) => {
  console.error(`${name}: ${err.message}`)
  process.exit(3)
})
server.listen(Number(port), host, () => { process.send?.({ type: 'listening', name, port: Number(port) }) })
process.once('disconnect', () => { process.exit(0) })
process.once('SIGTERM', () => { server.close(); process.exit(0) })
