/**
 * RFC 5424 framing of Firkin's JSON log lines: the priority from the line's level and
 * the configured facility, and the header fields that do not change per line.
 */
import { hostname } from 'node:os';
import type { SyslogFacility } from '../config/schema.js';

const FACILITY: Record<SyslogFacility, number> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};
/** Kask's level names (as the logger writes them) to syslog severities. */
const SEVERITY: Record<string, number> = { FATAL: 2, ERROR: 3, WARNING: 4, INFO: 6, DEBUG: 7 };
const LEVEL = /"level":"([A-Z]+)"/;

/** RFC 5424 header fields that do not change per line. */
export interface SyslogIdentity {
  readonly appName: string;
  readonly hostname: string;
  readonly procId: string;
}

export function syslogIdentity(serviceName: string): SyslogIdentity {
  return { appName: printable(serviceName, 48), hostname: printable(hostname(), 255), procId: String(process.pid) };
}

/** `<PRI>` for a JSON log line: facility * 8 + severity (from the line's level). */
export function priority(line: string, facility: SyslogFacility): number {
  const level = LEVEL.exec(line)?.[1];
  return FACILITY[facility] * 8 + (SEVERITY[level ?? ''] ?? 6);
}

/** One RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`. */
export function formatRfc5424(line: string, facility: SyslogFacility, id: SyslogIdentity, now = new Date()): string {
  const msg = line.endsWith('\n') ? line.slice(0, -1) : line;
  return `<${priority(msg, facility)}>1 ${now.toISOString()} ${id.hostname} ${id.appName} ${id.procId} - - ${msg}`;
}

function printable(s: string, max: number): string {
  const clean = s.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}
