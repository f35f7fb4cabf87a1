// Public surface of log/.
export { createLogger, createFileLogger, type Logger, type LoggerOptions, type FileLogger } from './logger.ts'
export { createAccessLog } from './access.ts'
