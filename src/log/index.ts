// Public surface of log/.
export { createLogger, type Logger, type LoggerOptions } from './logger.ts'
export { createAccessLog } from './access.ts'
