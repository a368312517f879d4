import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { rememberCredentialOf, rememberKeyOf } from './secrets.js';

export interface Reply {
  readonly status: number;
  /** Response headers, lower-case names, repeated fields joined with ', '. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: Buffer;
  /** The body parsed as JSON (problem documents). */
  json(): Record<string, unknown>;
}

export interface RequestOptions {
  readonly method?: string;
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: string | Buffer;
  /** For https URLs: the CA to trust, and a client certificate to present. */
  readonly tls?: { readonly ca: string | Buffer; readonly cert?: string | Buffer; readonly key?: string | Buffer };
  /** Connect from this local address (another loopback address, e.g. 127.0.0.2, is another source). */
  readonly localAddress?: string;
}

/** One HTTP(S) request on a fresh connection; resolves with the whole reply. */
export function request(url: string, options: RequestOptions = {}): Promise<Reply> {
  rememberKeyOf(url);
  rememberCredentialOf(options.headers?.authorization);
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
        }
        resolve({ status: res.statusCode ?? 0, headers, body, json: () => JSON.parse(body.toString('utf8')) });
      });
      res.on('error', reject);
    };
    const how = { method: options.method ?? 'GET', headers: options.headers, agent: false as const, localAddress: options.localAddress };
    const req = url.startsWith('https:') ? httpsRequest(url, { ...how, ...options.tls }, onResponse) : httpRequest(url, how, onResponse);
    req.on('error', reject);
    req.end(options.body);
  });
}

export interface RawOptions {
  /** Give up (and resolve with what arrived) after this long; default 2000 ms. */
  readonly waitMs?: number;
  /** Send FIN right after the bytes, as a client that half-closes does. */
  readonly halfClose?: boolean;
  /** Resolve with what arrived even if the connection fails (a reset, for a fuzzer). */
  readonly ignoreErrors?: boolean;
}

/** Send raw bytes and collect everything the server answers until it closes or `waitMs` passes. */
export function rawRequest(url: string, bytes: string | Buffer, options: RawOptions = {}): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), options.waitMs ?? 2000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', options.ignoreErrors ? () => undefined : reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    if (options.halfClose) socket.end(bytes);
    else socket.write(bytes);
  });
}

/** Status code of the first response in a raw answer. */
export function rawStatus(answer: string): number {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(answer);
  return m ? Number(m[1]) : 0;
}

/** A raw TCP connection to the server of `url`, once connected. */
export function openSocket(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Everything the server sends on `socket` until the connection closes. */
export function readUntilClose(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('close', () => resolve(text));
  });
}

/** One HTTP/1.1 response read off a raw stream. */
export interface RawResponse {
  readonly status: number;
  /** Lower-case names; a repeated field's values joined with ', '. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * The complete responses at the start of `text` (a raw stream of answers), in order:
 * bodies framed by Content-Length or chunked; interim 1xx answers left out; a HEAD's
 * answers are not told apart (tests do not pipeline HEAD).
 */
export function parseResponses(text: string): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end === -1) return out;
    const [statusLine = '', ...fields] = text.slice(at, end).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!m) return out;
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const field of fields) {
      const colon = field.indexOf(':');
      const name = field.slice(0, colon).trim().toLowerCase();
      const value = field.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    let next = end + 4;
    let body = '';
    if (status >= 200 && status !== 204 && status !== 304) {
      if (headers['content-length'] !== undefined) {
        const length = Number(headers['content-length']);
        if (text.length < next + length) return out;
        body = text.slice(next, next + length);
        next += length;
      } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
        for (;;) {
          const line = text.indexOf('\r\n', next);
          if (line === -1) return out;
          const size = parseInt(text.slice(next, line), 16);
          if (text.length < line + 2 + size + 2) return out;
          body += text.slice(line + 2, line + 2 + size);
          next = line + 2 + size + 2;
          if (size === 0) break;
        }
      }
    }
    if (status >= 200) out.push({ status, headers, body });
    at = next;
  }
}

export interface RawConnectionOptions {
  /** Connect from this local address (another loopback address is another source). */
  readonly localAddress?: string;
  /** TLS (the URL must be https): the CA to trust, a client certificate, versions, a session to resume. */
  readonly tls?: {
    readonly ca: Buffer;
    readonly cert?: Buffer;
    readonly key?: Buffer;
    readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
    readonly maxVersion?: 'TLSv1.2' | 'TLSv1.3';
    readonly session?: Buffer;
  };
}

/**
 * A raw HTTP/1.1 connection (plain or TLS) kept open across exchanges: bytes are
 * written as given and everything the server sends is kept, so a test can send a
 * request, wait, and send another on the same connection, and see whether the
 * server answered or closed.
 */
export class RawConnection {
  /** Everything the server has sent. */
  received = '';
  closed = false;
  /** The connection failed (a reset, a TLS alert): the error's code or message. */
  error: string | undefined;
  /** TLS: the latest session the server offered for resumption (TLS 1.3 sends tickets after the handshake). */
  session: Buffer | undefined;
  /** TLS: the handshake resumed the session offered. */
  reused = false;
  private wake: (() => void) | undefined;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.received += c.toString('latin1');
      this.wake?.();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (this.error ??= err.code ?? err.message));
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  /** Connected (TLS: the handshake done from the client's side), or failed: check `error` and `closed`. */
  static open(url: string, options: RawConnectionOptions = {}): Promise<RawConnection> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve) => {
      let conn: RawConnection;
      if (url.startsWith('https:')) {
        const t = options.tls;
        const socket = tlsConnect({
          host: hostname,
          port: Number(port),
          ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
          ca: t?.ca,
          cert: t?.cert,
          key: t?.key,
          minVersion: t?.minVersion ?? 'TLSv1.2',
          maxVersion: t?.maxVersion ?? 'TLSv1.3',
          session: t?.session,
        });
        conn = new RawConnection(socket);
        socket.on('session', (s: Buffer) => (conn.session = s));
        socket.once('secureConnect', () => {
          conn.reused = socket.isSessionReused();
          resolve(conn);
        });
        socket.once('close', () => resolve(conn));
      } else {
        const socket = connect({ host: hostname, port: Number(port), ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) });
        conn = new RawConnection(socket);
        socket.once('connect', () => resolve(conn));
        socket.once('close', () => resolve(conn));
      }
    });
  }

  /** The complete responses received so far. */
  get responses(): RawResponse[] {
    return parseResponses(this.received);
  }

  /** Wait until `count` complete responses have arrived, the connection closes, or `ms` pass. */
  async waitFor(count: number, ms = 2000): Promise<RawResponse[]> {
    const deadline = Date.now() + ms;
    while (this.responses.length < count && !this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, Math.max(0, Math.min(50, deadline - Date.now())));
      });
    }
    return this.responses;
  }

  /** Wait until the server closes the connection, or `ms` pass; true if it closed. */
  async waitClosed(ms = 2000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  /** Write `bytes`, then wait for `count` more responses than before (or the close, or `ms`); the new responses. */
  async send(bytes: string | Buffer, count = 1, ms = 2000): Promise<RawResponse[]> {
    const before = this.responses.length;
    if (!this.closed) this.socket.write(bytes);
    return (await this.waitFor(before + count, ms)).slice(before);
  }

  close(): void {
    this.socket.destroy();
  }
}
