// The dashboard's routes: the page at `/` (public: it holds no data and asks for the token), the current view as
// JSON, and the view as a server-sent event stream, one event a second (both behind the token).
import type { ServerResponse } from 'node:http'
import type { AdminRoute } from './api.ts'
import { DASHBOARD_PAGE } from './dashboard-page.ts'

export interface DashboardContext {
  /** The latest view (this host and the fleet), or undefined before the first second. */
  readonly view: () => unknown
  /** Calls `fn` with each new view; returns a function that stops it. */
  readonly subscribe: (fn: (view: unknown) => void) => () => void
}

export function createDashboardRoutes (c: DashboardContext): AdminRoute[] {
  return [
    { method: 'GET', path: '', public: true, handler: () => ({ status: 200, body: DASHBOARD_PAGE, contentType: 'text/html; charset=utf-8' }) },
    { method: 'GET', path: '/api/dashboard', handler: () => ({ status: 200, body: c.view() ?? null }) },
    {
      method: 'GET',
      path: '/api/dashboard/events',
      handler: () => ({ status: 200, body: null }),
      stream: (res: ServerResponse) => {
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' })
        const send = (v: unknown): void => { res.write(`data: ${JSON.stringify(v)}\n\n`) }
        const now = c.view()
        if (now !== undefined) send(now)
        const stop = c.subscribe(send)
        res.on('close', stop)
      }
    }
  ]
}
