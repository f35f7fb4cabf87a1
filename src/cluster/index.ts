// Public surface of cluster/.
export { Supervisor, StartupError, workerCount, type SupervisorOptions, type WorkerInfo } from './supervisor.ts'
export { Controller, type ControllerOptions, type ReloadOutcome } from './controller.ts'
export { EXIT, isFromWorker, isToWorker, type FromWorker, type ToWorker } from './messages.ts'
export { probeListen } from './listen-probe.ts'
