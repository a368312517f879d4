/**
 * JSON logs, one object per line, in Kask's shape: `msg`, `appname`, `time`
 * (RFC 3339), `level` (DEBUG, INFO, WARNING, ERROR, FATAL) and `request_id`,
 * plus Firkin's own fields. Session keys never reach a log line in clear: log
 * a KeyHasher's hash (key-hash.ts) where a line needs to name one.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogDestinationConfig, LogLevel } from '../config/types.js';
import { createSyslogSink, type LogSink } from './syslog.js';

export type { Logger } from 'pino';

const PINO_LEVEL: Record<LogLevel, pino.Level> = {
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  error: 'error',
  fatal: 'fatal',
};

const KASK_LABEL: Record<string, string> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'FATAL',
};

export interface LoggerOptions {
  readonly serviceName: string;
  readonly level: LogLevel;
  /** Where lines go; default: stdout, written asynchronously off the request path. */
  readonly destination?: DestinationStream;
}

/**
 * The configured log destination: stdout (asynchronous, flushed at exit) or syslog.
 * `onDrop` counts lines a syslog destination had to drop.
 */
export function openLogSink(config: LogDestinationConfig, serviceName: string, onDrop: () => void): LogSink {
  if (config.kind !== 'stdout') return createSyslogSink(config, serviceName, onDrop);
  const stdout = pino.destination({ dest: 1, sync: false });
  return {
    write: (line) => stdout.write(line),
    reopen: () => undefined,
    end: async () => {
      try {
        stdout.flushSync();
      } catch {
        // stdout already closed: nothing more can be written anyway
      }
    },
  };
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: PINO_LEVEL[options.level],
      // pid on every line: with workers, several processes write to the same destination.
      base: { appname: options.serviceName, pid: process.pid },
      messageKey: 'msg',
      timestamp: () => `,"time":"${new Date().toISOString()}"`,
      formatters: {
        level: (label) => ({ level: KASK_LABEL[label] ?? label.toUpperCase() }),
      },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
