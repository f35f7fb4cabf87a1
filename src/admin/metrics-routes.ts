// GET /metrics on the admin listener: the Prometheus exposition (behind the same token as the rest of the API).
import type { AdminRoute } from './api.ts'

export interface MetricsContext {
  /** metrics.enabled of the serving config: off, /metrics answers 404. */
  readonly enabled: () => boolean
  /** Renders the exposition; OpenMetrics when `accept` asks for it. */
  readonly render: (accept: string | undefined) => Promise<{ contentType: string, text: string }>
}

export function createMetricsRoutes (c: MetricsContext): AdminRoute[] {
  return [{
    method: 'GET',
    path: '/metrics',
    handler: async (_params, _body, req) => {
      if (!c.enabled()) return { status: 404, body: { error: 'SWY_ADMIN_NOT_FOUND', message: 'metrics are off (metrics.enabled: false)' } }
      const r = await c.render(req.headers.accept)
      return { status: 200, body: r.text, contentType: r.contentType }
    }
  }]
}
