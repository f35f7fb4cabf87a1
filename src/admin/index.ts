// Public surface of admin/.
export { startAdmin, type AdminServer, type AdminRoute, type AdminReply, type AdminHandler, type AdminOptions } from './api.ts'
export { createAdminRoutes, type AdminContext } from './routes.ts'
export { createMembershipRoutes, type MembershipContext } from './membership-routes.ts'
export { createCacheRoutes, readSelector, normalisePurgeUrl, type CacheAdminContext } from './cache-routes.ts'
