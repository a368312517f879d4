/**
 * JSON logs, one object per line, in Kask's shape: `msg`, `appname`, `time`
 * (RFC 3339), `level` (DEBUG, INFO, WARNING, ERROR, FATAL) and `request_id`,
 * plus Firkin's own fields. Session keys never reach a log line in clear: log
 * `keyHash(namespace, key)` where a line needs to name one.
 */
import { createHmac, randomBytes } from 'node:crypto';
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

/** Environment variable carrying the key-hash secret from the primary to its workers. */
export const KEY_HASH_SECRET_ENV = 'FIRKIN_KEY_HASH_SECRET';
const keyHashSecret = takeSharedSecret() ?? randomBytes(32);

/** Worker processes share the primary's secret, so their hashes agree (src/cluster.ts). */
function takeSharedSecret(): Buffer | undefined {
  const hex = process.env[KEY_HASH_SECRET_ENV];
  delete process.env[KEY_HASH_SECRET_ENV];
  return hex !== undefined && /^[0-9a-f]{64}$/.test(hex) ? Buffer.from(hex, 'hex') : undefined;
}

/**
 * A short keyed hash of a session key in its namespace, for correlating log lines
 * and /admin/top-keys without revealing the key. The namespace is hashed too, so
 * the same key in two namespaces (two values) has two hashes. The secret is random
 * per process (shared by its workers), so a hash cannot be brute-forced back to a
 * key from the logs alone.
 */
export function keyHash(namespace: string, key: string): string {
  return createHmac('sha256', keyHashSecret).update(namespace).update('\u0000').update(key).digest('base64url').slice(0, 12);
}
