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
import { lookup } from 'node:dns';
import { connect, isIP, type Socket } from 'node:net';
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
/** Longest message `logger` is allowed to pass on. */
const MAX_MESSAGE_BYTES = 65_000;
const RECONNECT_MIN_MS = 100;
const CONNECT_TIMEOUT_MS = 5_000;
/** A `logger` child that lived this long counts as a good start (resets the backoff). */
const STABLE_CHILD_MS = 5_000;
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

/** What every destination needs besides its address. */
interface SinkContext {
  readonly facility: SyslogFacility;
  readonly id: SyslogIdentity;
  /** Count a line that could not be sent. */
  readonly onDrop: () => void;
}

export function createSyslogSink(
  config: Exclude<LogDestinationConfig, { kind: 'stdout' }>,
  serviceName: string,
  onDrop: () => void,
): LogSink {
  const ctx: SinkContext = { facility: config.facility, id: syslogIdentity(serviceName), onDrop };
  if (config.kind === 'syslog-socket') return new LoggerProcessSink(config.path, ctx);
  if (config.protocol === 'udp') return new UdpSink(config.host, config.port, ctx);
  return new TcpSink(config.host, config.port, ctx);
}

class UdpSink implements LogSink {
  private socket: UdpSocket | undefined;
  /**
   * Lines written while the socket is still connecting, sent once it is: Node's
   * dgram throws if send() is called then (start-up logs lines at once).
   */
  private early: Buffer[] | undefined;
  /** Bytes handed to the socket (or waiting in `early`) and not yet sent, for the current socket. */
  private pending = 0;
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly ctx: SinkContext,
  ) {
    this.open();
  }

  /** Resolve the host once and connect, so sending a line costs no DNS lookup. */
  private open(): void {
    const family = isIP(this.host);
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    socket.on('error', () => undefined);
    socket.unref();
    if (family !== 0) {
      this.early = [];
      socket.connect(this.port, this.host, () => this.connected(socket));
      this.socket = socket;
      return;
    }
    socket.close();
    lookup(this.host, (err, address, addressFamily) => {
      if (err || this.closed) return; // lines are dropped (and counted) until a reopen resolves it
      const resolved = createSocket(addressFamily === 6 ? 'udp6' : 'udp4');
      resolved.on('error', () => undefined);
      resolved.unref();
      this.early = [];
      resolved.connect(this.port, address, () => this.connected(resolved));
      this.socket = resolved;
    });
  }

  private connected(socket: UdpSocket): void {
    if (this.socket !== socket) return;
    const early = this.early ?? [];
    this.early = undefined;
    for (const message of early) this.send(socket, message);
  }

  write(line: string): void {
    const socket = this.socket;
    const message = Buffer.from(formatRfc5424(line, this.ctx.facility, this.ctx.id));
    if (this.closed || socket === undefined || this.pending + message.length > MAX_QUEUED_BYTES) return this.ctx.onDrop();
    this.pending += message.length;
    if (this.early !== undefined) this.early.push(message);
    else this.send(socket, message);
  }

  private send(socket: UdpSocket, message: Buffer): void {
    socket.send(message, (err) => {
      if (this.socket === socket) this.pending -= message.length;
      if (err) this.ctx.onDrop();
    });
  }

  reopen(): void {
    const old = this.socket;
    this.early?.forEach(() => this.ctx.onDrop());
    this.early = undefined;
    this.socket = undefined;
    this.pending = 0;
    this.open();
    if (old) setTimeout(() => old.close(), 1000).unref();
  }

  async end(timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.closed = true;
    this.socket?.close();
    this.socket = undefined;
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
    private readonly ctx: SinkContext,
  ) {
    this.connect();
  }

  write(line: string): void {
    if (this.closed) return this.ctx.onDrop();
    const message = Buffer.from(formatRfc5424(line, this.ctx.facility, this.ctx.id));
    const frame = Buffer.concat([Buffer.from(`${message.length} `), message]);
    if (this.connected && this.socket !== undefined) {
      if (this.socket.writableLength > MAX_QUEUED_BYTES) return this.ctx.onDrop();
      this.socket.write(frame);
      return;
    }
    if (this.queued + frame.length > MAX_QUEUED_BYTES) return this.ctx.onDrop();
    this.queue.push(frame);
    this.queued += frame.length;
  }

  private connect(): void {
    if (this.closed) return;
    const socket = connect({ host: this.host, port: this.port });
    this.socket = socket;
    socket.unref();
    socket.setNoDelay(true);
    // A receiver that stops answering is noticed in about a minute, not the kernel's fifteen.
    socket.setKeepAlive(true, 10_000);
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => {
      if (!this.connected) socket.destroy();
    });
    socket.on('connect', () => {
      socket.setTimeout(0);
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

/**
 * Lines to a local syslog socket through util-linux `logger` (which frames them as
 * RFC 5424). Its own complaints (no such socket, no `logger`) go to our stderr.
 */
class LoggerProcessSink implements LogSink {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly retry = new Backoff(() => this.start());
  private stableTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly ctx: SinkContext,
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
        `--tag=${this.ctx.id.appName}`,
        `--id=${this.ctx.id.procId}`,
        `--size=${MAX_MESSAGE_BYTES}`,
        '--socket-errors=on',
      ],
      { stdio: ['pipe', 'ignore', 'inherit'] },
    ) as unknown as ChildProcessWithoutNullStreams;
    this.child = child;
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    child.stdin.on('error', () => undefined);
    // Only a child that stays up resets the backoff: one that exits at once is retried ever more slowly.
    this.stableTimer = setTimeout(() => this.retry.reset(), STABLE_CHILD_MS);
    this.stableTimer.unref();
    let gone = false;
    const onGone = (): void => {
      if (gone) return;
      gone = true;
      clearTimeout(this.stableTimer);
      if (this.child !== child) return;
      this.child = undefined;
      if (!this.closed) this.retry.schedule();
    };
    // 'close' also comes when spawning failed (ENOENT), where 'exit' does not.
    child.on('error', onGone);
    child.on('close', onGone);
  }

  write(line: string): void {
    const child = this.child;
    if (this.closed || child === undefined || !child.stdin.writable || child.stdin.writableLength > MAX_QUEUED_BYTES) {
      return this.ctx.onDrop();
    }
    // One line per message: the JSON line has no raw newline inside.
    const msg = line.endsWith('\n') ? line : `${line}\n`;
    child.stdin.write(`<${priority(msg, this.ctx.facility)}>${msg}`);
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
    clearTimeout(this.stableTimer);
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.pid === undefined) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill();
        resolve();
      }, timeoutMs);
      child.once('close', () => {
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
