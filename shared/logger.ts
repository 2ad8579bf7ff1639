// The one logger factory: JSON lines (pino) with the service name on every line.
// Handlers add `orderId` and `messageId` through child loggers so that one
// order's path can be followed across services with a single grep.
import pino, { type Logger } from 'pino'
import type { LogLevel } from './config'

export type { Logger }

export function createLogger(service: string, level: LogLevel = 'info'): Logger {
  return pino({ level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime })
}
