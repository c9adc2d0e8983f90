// JSON logs with pino, to stdout.
import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config/types';

export type { Logger };

export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
