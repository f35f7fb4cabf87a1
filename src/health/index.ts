// Public surface of health/.
export { createActiveHealth, httpProbe, ServerHealth, type ActiveHealth, type Probe, type ProbeResult, type ProbeVia, type HealthConfig } from './active.ts'
export { createServerStates, type ServerStates, type ServerCounters, type EjectionEvent, type PassiveConfig } from './passive.ts'
