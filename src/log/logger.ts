// One pino logger per process: JSON lines by default, pretty on a terminal, asynchronous writes.
import { pino, type Logger, type LevelWithSilent } from 'pino'

export type { Logger }

export interface LoggerOptions {
  level: LevelWithSilent
  /** Human-readable output; default: only when stdout is a TTY. */
  pretty?: boolean | undefined
  /** Fields on every line, e.g. `{ role: 'worker', worker: 3 }`. */
  base?: Record<string, unknown>
}

export function createLogger ({ level, pretty, base = {} }: LoggerOptions): Logger {
  const usePretty = pretty ?? process.stdout.isTTY === true
  if (usePretty) {
    return pino({ level, base }, pino.transport({ target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } }))
  }
  // One write per line: workers share stdout, and writes up to PIPE_BUF (4 KiB) on a pipe never interleave.
  const dest = pino.destination({ dest: 1, sync: false, minLength: 0 })
  const log = pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime }, dest)
  process.once('exit', () => { try { dest.flushSync() } catch {} })
  return log
}
