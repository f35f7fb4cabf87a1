// The built-in demo: the proxy on :8080 in front of three demo backends, with no Redis.
import type { ConfigInput } from '../config/index.ts'

export const DEMO_BACKENDS = [
  { name: 'backend-1', port: 9001 },
  { name: 'backend-2', port: 9002 },
  { name: 'backend-3', port: 9003 }
] as const

export function demoConfig (port = 8080): ConfigInput {
  return {
    listen: [{ host: '0.0.0.0', port }],
    // Round-robin counters are per worker, so one worker shows the exact rotation; `switchyard start` uses every core.
    workers: 1,
    upstreams: {
      demo: {
        balance: 'round-robin',
        servers: DEMO_BACKENDS.map((b) => ({ url: `http://127.0.0.1:${b.port}` }))
      }
    },
    routes: [{ match: { path: '/' }, upstream: 'demo' }]
  }
}
