// Public surface of demo/: the built-in demo's config and backends (`switchyard demo`, `npm start`).
export { DEMO_BACKENDS, demoConfig } from './config.ts'
export { createDemoBackend } from './backend.ts'
