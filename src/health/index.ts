// Public surface of health/.
export { createActiveHealth, httpProbe, ServerHealth, type ActiveHealth, type Probe, type ProbeResult, type HealthConfig } from './active.ts'
