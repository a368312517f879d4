/**
 * A log destination that sends each JSON log line to syslog with RFC 5424
 * framing: to a server over UDP (RFC 5426, one line per datagram) or TCP
 * (RFC 6587 octet counting), or to a local socket such as /dev/log.
 *
 * Node.js cannot open Unix datagram sockets (what rsyslog and journald listen
 * on), so local-socket lines go through util-linux `logger`, which does.
 *
 * Logging never blocks or fails a request: lines are queued up to a bound, then
 * dropped and counted; a lost connection is re-made in the background.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { connect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import type { LogDestinationConfig } from '../config/load.js';
import type { SyslogFacility } from '../config/schema.js';

const FACILITY: Record<SyslogFacility, number> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};
/** Kask's level names (as the logger writes them) to syslog severities. */
const SEVERITY: Record<string, number> = { FATAL: 2, ERROR: 3, WARNING: 4, INFO: 6, DEBUG: 7 };
const LEVEL = /"level":"([A-Z]+)"/;

/** Bytes queued for a slow or absent receiver before lines are dropped. */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
/** Datagrams handed to the kernel but not yet sent, before lines are dropped. */
const MAX_QUEUED_DATAGRAMS = 4096;
/** Longest message `logger` is allowed to pass on. */
const MAX_MESSAGE_BYTES = 65_000;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

export interface LogSink {
  write(line: string): void;
  /** Re-open the destination (SIGHUP): reconnect, or restart `logger`. */
  reopen(): void;
  /** Send what is queued (bounded by `timeoutMs`), then close. */
  end(timeoutMs?: number): Promise<void>;
}

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

export function createSyslogSink(
  config: Exclude<LogDestinationConfig, { kind: 'stdout' }>,
  serviceName: string,
  onDrop: () => void,
): LogSink {
  const id = syslogIdentity(serviceName);
  if (config.kind === 'syslog-socket') return new LoggerProcessSink(config.path, config.facility, id, onDrop);
  if (config.protocol === 'udp') return new UdpSink(config.host, config.port, config.facility, id, onDrop);
  return new TcpSink(config.host, config.port, config.facility, id, onDrop);
}

class UdpSink implements LogSink {
  private socket: UdpSocket;
  private pending = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly facility: SyslogFacility,
    private readonly id: SyslogIdentity,
    private readonly onDrop: () => void,
  ) {
    this.socket = this.open();
  }

  private open(): UdpSocket {
    const socket = createSocket(isIPv6(this.host) ? 'udp6' : 'udp4');
    socket.on('error', () => undefined);
    socket.unref();
    return socket;
  }

  write(line: string): void {
    const message = Buffer.from(formatRfc5424(line, this.facility, this.id));
    if (this.pending >= MAX_QUEUED_DATAGRAMS) return this.onDrop();
    this.pending++;
    this.socket.send(message, this.port, this.host, (err) => {
      this.pending--;
      if (err) this.onDrop();
    });
  }

  reopen(): void {
    const old = this.socket;
    this.socket = this.open();
    setTimeout(() => old.close(), 1000).unref();
  }

  async end(timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.socket.close();
  }
}

class TcpSink implements LogSink {
  private socket: Socket | undefined;
  private connected = false;
  private queue: Buffer[] = [];
  private queued = 0;
  private readonly retry = new Backoff(() => this.connect());
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly facility: SyslogFacility,
    private readonly id: SyslogIdentity,
    private readonly onDrop: () => void,
  ) {
    this.connect();
  }

  write(line: string): void {
    const message = Buffer.from(formatRfc5424(line, this.facility, this.id));
    const frame = Buffer.concat([Buffer.from(`${message.length} `), message]);
    if (this.connected && this.socket !== undefined) {
      if (this.socket.writableLength > MAX_QUEUED_BYTES) return this.onDrop();
      this.socket.write(frame);
      return;
    }
    if (this.queued + frame.length > MAX_QUEUED_BYTES) return this.onDrop();
    this.queue.push(frame);
    this.queued += frame.length;
  }

  private connect(): void {
    if (this.closed) return;
    const socket = connect({ host: this.host, port: this.port });
    this.socket = socket;
    socket.unref();
    socket.setNoDelay(true);
    socket.on('connect', () => {
      this.connected = true;
      this.retry.reset();
      for (const frame of this.queue) socket.write(frame);
      this.queue = [];
      this.queued = 0;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.connected = false;
      this.socket = undefined;
      if (!this.closed) this.retry.schedule();
    });
  }

  reopen(): void {
    this.retry.cancel();
    const old = this.socket;
    this.socket = undefined;
    this.connected = false;
    old?.end();
    this.connect();
  }

  async end(timeoutMs = 2000): Promise<void> {
    this.closed = true;
    this.retry.cancel();
    const socket = this.socket;
    if (socket === undefined || !this.connected) {
      socket?.destroy();
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, timeoutMs);
      socket.end(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** Lines to a local syslog socket through util-linux `logger` (which frames them as RFC 5424). */
class LoggerProcessSink implements LogSink {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly retry = new Backoff(() => this.start());
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly facility: SyslogFacility,
    private readonly id: SyslogIdentity,
    private readonly onDrop: () => void,
  ) {
    this.start();
  }

  private start(): void {
    if (this.closed) return;
    const child = spawn(
      'logger',
      [
        `--socket=${this.path}`,
        '--rfc5424=notq',
        '--prio-prefix',
        `--tag=${this.id.appName}`,
        `--id=${this.id.procId}`,
        `--size=${MAX_MESSAGE_BYTES}`,
        '--socket-errors=off',
      ],
      { stdio: ['pipe', 'ignore', 'pipe'] } as never,
    ) as ChildProcessWithoutNullStreams;
    this.child = child;
    child.unref();
    child.stdin.on('error', () => undefined);
    child.stderr?.resume();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    child.on('error', () => undefined);
    child.on('exit', () => {
      if (this.child !== child) return;
      this.child = undefined;
      if (!this.closed) this.retry.schedule();
    });
    child.on('spawn', () => this.retry.reset());
  }

  write(line: string): void {
    const child = this.child;
    if (child === undefined || child.stdin.writableLength > MAX_QUEUED_BYTES) return this.onDrop();
    // One line per message: the JSON line has no raw newline inside.
    const msg = line.endsWith('\n') ? line : `${line}\n`;
    child.stdin.write(`<${priority(msg, this.facility)}>${msg}`);
  }

  reopen(): void {
    this.retry.cancel();
    const old = this.child;
    this.child = undefined;
    old?.stdin.end();
    this.start();
  }

  async end(timeoutMs = 2000): Promise<void> {
    this.closed = true;
    this.retry.cancel();
    const child = this.child;
    if (child === undefined) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill();
        resolve();
      }, timeoutMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin.end();
    });
  }
}

/** Re-runs `attempt` after a failure: 100 ms, doubling up to 5 s; reset() once it succeeds. */
class Backoff {
  private delayMs = RECONNECT_MIN_MS;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly attempt: () => void) {}

  schedule(): void {
    this.timer = setTimeout(this.attempt, this.delayMs);
    this.timer.unref();
    this.delayMs = Math.min(this.delayMs * 2, RECONNECT_MAX_MS);
  }

  reset(): void {
    this.delayMs = RECONNECT_MIN_MS;
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.reset();
  }
}

function printable(s: string, max: number): string {
  const clean = s.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}
