// Public surface of cluster/.
export { Supervisor, StartupError, workerCount, type SupervisorOptions, type WorkerInfo } from './supervisor.ts'
export { EXIT, isFromWorker, isToWorker, type FromWorker, type ToWorker } from './messages.ts'
export { probeListen } from './listen-probe.ts'
