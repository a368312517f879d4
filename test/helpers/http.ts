import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
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
