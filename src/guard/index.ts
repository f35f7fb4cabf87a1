// Public surface of guard/.
export { createGuard, type GuardOptions } from './guard.ts'
