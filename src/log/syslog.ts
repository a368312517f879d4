/**
 * A log destination that sends each JSON log line to syslog with RFC 5424
 * framing: to a server over UDP (RFC 5426, one line per datagram) or TCP
 * (RFC 6587 octet counting), or to a local socket such as /dev/log.
 *
 * Node.js cannot open Unix datagram sockets (what rsyslog and journald listen
 * on), so local-socket lines go through util-linux `logger`, which does.
 *
 * Logging never blocks or fails a request, and never throws: lines are queued up
 * to a bound, then dropped and counted; a lost connection is re-made in the
 * background. While a server's name is resolved, a socket connects, or SIGHUP
 * re-opens the destination, lines wait for the new connection instead of being
 * dropped. Framing: syslog-format.ts; the queue and backoff: syslog-queue.ts.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns';
import { connect, isIP, type Socket } from 'node:net';
import type { LogDestinationConfig } from '../config/types.js';
import type { SyslogFacility } from '../config/schema.js';
import { formatRfc5424, priority, syslogIdentity, type SyslogIdentity } from './syslog-format.js';
import { Backoff, MAX_QUEUED_BYTES, settle, Waiting } from './syslog-queue.js';

/** Longest message `logger` is allowed to pass on. */
const MAX_MESSAGE_BYTES = 65_000;
const CONNECT_TIMEOUT_MS = 5_000;
/** A `logger` child that lived this long counts as a good start (resets the backoff). */
const STABLE_CHILD_MS = 5_000;

export interface LogSink {
  write(line: string): void;
  /** Re-open the destination (SIGHUP): reconnect, or restart `logger`. */
  reopen(): void;
  /** Send what is queued (bounded by `timeoutMs`), then close. */
  end(timeoutMs?: number): Promise<void>;
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
  if (config.kind === 'syslog-socket') return neverThrows(new LoggerProcessSink(config.path, ctx), onDrop);
  if (config.protocol === 'udp') return neverThrows(new UdpSink(config.host, config.port, ctx), onDrop);
  return neverThrows(new TcpSink(config.host, config.port, ctx), onDrop);
}

/**
 * A sink that never throws: the uncaught-exception handler logs its FATAL line
 * through the same sink, and a throw there ends the process at once (exit 7),
 * without the line. A line that cannot be handed over is counted as dropped.
 */
export function neverThrows(sink: LogSink, onDrop: () => void): LogSink {
  return {
    write: (line) => {
      try {
        sink.write(line);
      } catch {
        onDrop();
      }
    },
    reopen: () => {
      try {
        sink.reopen();
      } catch {
        // the destination stays as it was; a later SIGHUP or reconnect tries again
      }
    },
    end: (timeoutMs) => sink.end(timeoutMs).catch(() => undefined),
  };
}

/**
 * One datagram per line on a connected UDP socket. A name is resolved before the
 * socket is made (once, and again on SIGHUP), not per line. Until the socket is
 * connected, lines wait in order: Node's dgram throws if send() is called on a
 * socket that is still connecting.
 */
class UdpSink implements LogSink {
  /** The connected socket; undefined while resolving or connecting. */
  private socket: UdpSocket | undefined;
  /** Counts open() calls, so the callbacks of a superseded attempt do nothing. */
  private attempt = 0;
  private readonly waiting: Waiting;
  /** Bytes handed to a socket (this one or one being re-opened) and not sent yet. */
  private inFlight = 0;
  private readonly retry = new Backoff(() => this.open());
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly ctx: SinkContext,
  ) {
    this.waiting = new Waiting(ctx.onDrop);
    this.open();
  }

  private open(): void {
    const attempt = ++this.attempt;
    const current = (): boolean => attempt === this.attempt && !this.closed;
    resolve(this.host, (err, address, family) => {
      if (!current()) return;
      if (err) return this.retry.schedule(); // lines wait (up to the bound) while the name does not resolve
      const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
      socket.on('error', () => undefined); // send errors reach send()'s callback
      socket.unref();
      socket.connect(this.port, address, (connectError?: Error) => {
        if (!current()) return socket.close();
        if (connectError) {
          socket.close();
          return this.retry.schedule();
        }
        this.socket = socket;
        this.retry.reset();
        for (const message of this.waiting.take()) this.send(socket, message);
      });
    });
  }

  write(line: string): void {
    if (this.closed) return this.ctx.onDrop();
    const message = Buffer.from(formatRfc5424(line, this.ctx.facility, this.ctx.id));
    if (this.socket === undefined) return this.waiting.push(message, this.inFlight);
    if (this.inFlight + message.length > MAX_QUEUED_BYTES) return this.ctx.onDrop();
    this.send(this.socket, message);
  }

  private send(socket: UdpSocket, message: Buffer): void {
    this.inFlight += message.length;
    socket.send(message, (err) => {
      this.inFlight -= message.length;
      if (err) this.ctx.onDrop();
    });
  }

  /** Resolve and connect again; lines written meanwhile wait for the new socket. */
  reopen(): void {
    if (this.closed) return;
    const old = this.socket;
    this.socket = undefined;
    this.retry.cancel();
    this.open();
    // The old socket is closed once what was handed to it has had time to go out.
    if (old) setTimeout(() => old.close(), 1000).unref();
  }

  async end(timeoutMs = 2000): Promise<void> {
    await settle(() => this.waiting.bytes === 0 && this.inFlight === 0, timeoutMs);
    this.closed = true;
    this.retry.cancel();
    this.waiting.dropAll();
    this.socket?.close();
    this.socket = undefined;
  }
}

/** An IP address as it is; a name through the system resolver (as every other program on the host). */
function resolve(host: string, done: (err: Error | null, address: string, family: number) => void): void {
  const family = isIP(host);
  if (family !== 0) process.nextTick(done, null, host, family);
  else lookup(host, done);
}

/** RFC 6587 octet-counted frames on a TCP connection, re-made in the background when lost. */
class TcpSink implements LogSink {
  private socket: Socket | undefined;
  private connected = false;
  private readonly waiting: Waiting;
  private readonly retry = new Backoff(() => this.connect());
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly ctx: SinkContext,
  ) {
    this.waiting = new Waiting(ctx.onDrop);
    this.connect();
  }

  write(line: string): void {
    if (this.closed) return this.ctx.onDrop();
    const message = Buffer.from(formatRfc5424(line, this.ctx.facility, this.ctx.id));
    const frame = Buffer.concat([Buffer.from(`${message.length} `), message]);
    if (!this.connected || this.socket === undefined) return this.waiting.push(frame, 0);
    if (this.socket.writableLength + frame.length > MAX_QUEUED_BYTES) return this.ctx.onDrop();
    this.socket.write(frame);
  }

  private connect(): void {
    if (this.closed) return;
    // net resolves a name itself (trying IPv6 and IPv4 addresses in turn); lines wait meanwhile.
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
      if (this.socket !== socket) return;
      socket.setTimeout(0);
      this.connected = true;
      this.retry.reset();
      for (const frame of this.waiting.take()) socket.write(frame);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.connected = false;
      this.socket = undefined;
      if (!this.closed) this.retry.schedule();
    });
  }

  /** Connect again; the old connection sends what it has, lines written meanwhile wait for the new one. */
  reopen(): void {
    if (this.closed) return;
    this.retry.cancel();
    const old = this.socket;
    this.socket = undefined;
    this.connected = false;
    if (old !== undefined) {
      old.end();
      // A receiver that stays connected but reads nothing must not keep each re-opened socket's lines.
      setTimeout(() => old.destroy(), 2000).unref();
    }
    this.connect();
  }

  async end(timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // Lines still waiting for a connection get until the deadline to have one.
    await settle(() => this.waiting.bytes === 0, timeoutMs);
    this.closed = true;
    this.retry.cancel();
    this.waiting.dropAll();
    const socket = this.socket;
    if (socket === undefined || !this.connected) {
      socket?.destroy();
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, Math.max(0, deadline - Date.now()));
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

