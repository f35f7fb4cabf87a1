// Public surface of admin/: the API the primary serves, and the client the CLI's reload and register use.
export { startAdmin, type AdminServer, type AdminRoute, type AdminReply, type AdminHandler, type AdminOptions } from './api.ts'
export { createAdminRoutes, type AdminContext } from './routes.ts'
export { createMembershipRoutes, type MembershipContext } from './membership-routes.ts'
export { createCacheRoutes, readSelector, normalisePurgeUrl, type CacheAdminContext } from './cache-routes.ts'
export { createMetricsRoutes, type MetricsContext } from './metrics-routes.ts'
export { createDashboardRoutes, type DashboardContext } from './dashboard-routes.ts'
export { connectHost, requestReload, keepRegistered } from './client.ts'
