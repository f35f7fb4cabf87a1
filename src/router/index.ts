// Public surface of router/.
export { createRouter, hostname, type Router, type RouteEntry } from './router.ts'
