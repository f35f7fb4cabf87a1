// Public surface of router/: host and path matching, and the route stage built on it.
export { createRouter, hostname, coveredBy, type Router, type RouteEntry } from './router.ts'
export { createRouteStage, stripPrefix, type CompiledRoute } from './route-stage.ts'
