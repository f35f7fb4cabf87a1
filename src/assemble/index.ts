// Public surface of assemble/: config → runtime (pools, strategies, stage arrays). Only the worker entry imports it.
export { buildRuntime, type Runtime, type RuntimeServices } from './runtime.ts'
