/**
 * One HTTP exchange with Firkin over a keep-alive agent (node:http or node:https).
 * A client certificate belongs to the agent, not to a request, so TLS settings
 * make an https.Agent; every request of a client shares its connections, at most
 * `maxSockets` of them, each closed once idle for `idleTimeoutMs` or before the
 * server's own keep-alive timeout (its `Keep-Alive: timeout=…` hint), whichever
 * comes first.
 *
 * Each failure says whether the request may have reached the server: it may once
 * its connection was established (TCP connected, TLS handshake done) or was one
 * reused from an earlier exchange, since the request is written at once then.
 * Before that (waiting for a free connection, connecting, refused, a DNS failure,
 * a TLS handshake that failed or was cut) no byte of it was written.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface TlsOptions {
  /** CA certificate(s) that signed the server's certificate (PEM). Default: Node's bundled roots. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /** Client certificate for mutual TLS (PEM, may hold the chain). */
  readonly cert?: string | Buffer;
  /** Its private key (PEM). */
  readonly key?: string | Buffer;
}

export interface TransportOptions {
  readonly tls: TlsOptions | undefined;
  readonly maxResponseBytes: number;
  /** Connections to the server at most (for the transport's own agent). */
  readonly maxSockets: number;
  /** An idle kept-alive connection is closed after this (for the transport's own agent). */
  readonly idleTimeoutMs: number;
  /** The caller's agent instead of the transport's own: its limits and TLS settings apply. */
  readonly agent: http.Agent | undefined;
}

export interface Exchange {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface Attempt {
  readonly method: string;
  readonly path: string;
  readonly headers: http.OutgoingHttpHeaders;
  readonly body: Buffer | undefined;
  /** The attempt fails (as a connection failure) when no full answer came within this time. */
  readonly timeoutMs: number;
}

/** No answer arrived (refused, reset, timed out…); `sent` says whether the request may have reached the server. */
export class NoAnswer extends Error {
  override name = 'NoAnswer';
  constructor(
    message: string,
    /** False: no byte of the request was written (no connection yet, or its TLS handshake failed): nothing can have been applied. */
    readonly sent: boolean,
    /** The attempt's own time ran out (rather than a failure the network reported). */
    readonly timedOut: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A new TLS connection that presented a client certificate was closed by the server
 * after the key exchange and before any answer, without a TLS alert: what Firkin does
 * with a certificate its CA did not sign (src/transport/tls.ts, after the handshake).
 */
export class CertificateRefused extends Error {
  override name = 'CertificateRefused';
}

/** The answer's body (declared or as it arrived) was larger than the transport's limit: the rest was not read. */
export class TooLarge extends Error {
  override name = 'TooLarge';
  constructor(
    readonly status: number,
    readonly limit: number,
  ) {
    super(`the answer's body exceeds ${limit} bytes`);
  }
}

/** The request could not even be made (Node.js refused its options or headers): nothing was sent. */
export class Unsendable extends Error {
  override name = 'Unsendable';
}

/** A connection is let go this long before the server's announced keep-alive timeout: the answer took time to arrive. */
export const KEEP_ALIVE_MARGIN_MS = 1000;

/** Per connection, the idle time its server allows (its Keep-Alive hint minus the margin), as the latest answer on it said. */
const serverIdleLimit = new WeakMap<object, number>();

/** The `timeout=` of a Keep-Alive header, in seconds; undefined when absent or unreadable. */
export function keepAliveTimeout(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header.join(',') : header;
  const m = value === undefined ? null : /(?:^|[,;\s])timeout\s*=\s*"?(\d+)"?/i.exec(value);
  return m === null ? undefined : Number(m[1]);
}

/**
 * Keep a connection for reuse only while both sides will: closed after `idleMs` without
 * a request, or sooner if the server announced a shorter keep-alive timeout (less the
 * margin); not kept at all if that leaves no time. Node's own Agent honours the hint
 * only to shorten an agent `timeout`, and closes idle connections never without one.
 */
function keepIdle(socket: Duplex, idleMs: number, kept: boolean): boolean {
  if (!kept) return false;
  const limit = Math.min(idleMs, serverIdleLimit.get(socket) ?? Infinity);
  if (limit <= 0) return false;
  (socket as Socket).setTimeout(limit); // on a free connection the agent destroys it at the timeout
  return true;
}

class BoundedHttpAgent extends http.Agent {
  constructor(
    options: http.AgentOptions,
    private readonly idleMs: number,
  ) {
    super(options);
  }
  override keepSocketAlive(socket: Duplex): boolean {
    // Typed as void in @types/node; Node.js returns whether the connection may be kept.
    return keepIdle(socket, this.idleMs, super.keepSocketAlive(socket) as unknown as boolean);
  }
}

class BoundedHttpsAgent extends https.Agent {
  constructor(
    options: https.AgentOptions,
    private readonly idleMs: number,
  ) {
    super(options);
  }
  override keepSocketAlive(socket: Duplex): boolean {
    // Typed as void in @types/node; Node.js returns whether the connection may be kept.
    return keepIdle(socket, this.idleMs, super.keepSocketAlive(socket) as unknown as boolean);
  }
}

const WAITING_FOR = { waiting: 'waiting for a free connection', connecting: 'connecting', sent: 'waiting for the answer' } as const;

/** Failures that mean the connection was cut, rather than refused or failed in TLS. */
const CUT = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

export class Transport {
  readonly #agent: http.Agent;
  readonly #ownAgent: boolean;
  readonly #request: typeof http.request;
  readonly #origin: URL;
  /** The host to connect to: the URL's, without the brackets of an IPv6 literal. */
  readonly #hostname: string;
  readonly #secure: boolean;
  readonly #clientCertificate: boolean;
  readonly #maxResponseBytes: number;

  constructor(origin: URL, options: TransportOptions) {
    this.#origin = origin;
    this.#maxResponseBytes = options.maxResponseBytes;
    this.#secure = origin.protocol === 'https:';
    this.#hostname = origin.hostname.startsWith('[') && origin.hostname.endsWith(']') ? origin.hostname.slice(1, -1) : origin.hostname;
    const { tls, agent } = options;
    if (agent !== undefined) {
      this.#agent = agent;
      this.#ownAgent = false;
      this.#clientCertificate = (agent as unknown as { options?: https.AgentOptions }).options?.cert !== undefined;
    } else {
      const common = { keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: options.maxSockets, scheduling: 'lifo' } as const;
      this.#agent = this.#secure
        ? new BoundedHttpsAgent({ ...common, ca: tls?.ca as https.AgentOptions['ca'], cert: tls?.cert, key: tls?.key }, options.idleTimeoutMs)
        : new BoundedHttpAgent(common, options.idleTimeoutMs);
      this.#ownAgent = true;
      this.#clientCertificate = tls?.cert !== undefined;
    }
    this.#request = this.#secure ? https.request : http.request;
  }

  /** scheme://host:port, for messages (never the path: it holds keys). */
  get origin(): string {
    return this.#origin.origin;
  }

  send(attempt: Attempt): Promise<Exchange> {
    return new Promise((resolve, reject) => {
      let settled = false;
      /** waiting: for a connection of the agent; connecting: TCP or TLS under way; sent: connected, the request written at once. */
      let phase: 'waiting' | 'connecting' | 'sent' = 'waiting';
      let fresh = false;
      /** TLS key material was derived with the server: the handshake reached the point where a client certificate is sent. */
      let keyExchanged = false;
      let answered = false;
      const settle = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        outcome();
      };
      const fail = (cause: unknown, timedOut = false): void =>
        settle(() => {
          const code = (cause as NodeJS.ErrnoException | undefined)?.code;
          if (
            this.#secure &&
            this.#clientCertificate &&
            fresh &&
            !answered &&
            !timedOut &&
            (phase === 'sent' || keyExchanged) &&
            typeof code === 'string' &&
            CUT.has(code)
          ) {
            reject(new CertificateRefused(`the server closed the new connection after the TLS handshake, before any answer (${code})`, { cause }));
            return;
          }
          reject(new NoAnswer(describe(cause), phase === 'sent', timedOut, { cause }));
        });

      let req: http.ClientRequest;
      try {
        req = this.#request({
          agent: this.#agent,
          protocol: this.#origin.protocol,
          hostname: this.#hostname,
          port: this.#origin.port,
          method: attempt.method,
          path: attempt.path,
          headers: attempt.body === undefined ? attempt.headers : { ...attempt.headers, 'content-length': attempt.body.length },
        });
      } catch (err) {
        reject(new Unsendable(describe(err), { cause: err }));
        return;
      }
      // One deadline for the whole exchange, waiting for a connection and the answer included: a server that stalls mid-body fails too.
      // Settled here, not by the request's 'error': a request still queued in the agent reports its destruction only once it gets a connection.
      const timer = setTimeout(() => {
        fail(new Error(`timed out after ${attempt.timeoutMs} ms ${WAITING_FOR[phase]}`), true);
        req.destroy();
      }, attempt.timeoutMs);
      req.on('socket', (socket: Socket) => {
        fresh = !req.reusedSocket;
        if (!fresh) {
          phase = 'sent';
          return;
        }
        phase = 'connecting';
        if (this.#secure) {
          // Only the event is noted; the key material itself is dropped.
          const onKeylog = (): void => void (keyExchanged = true);
          socket.on('keylog', onKeylog);
          socket.once('secureConnect', () => {
            socket.off('keylog', onKeylog);
            phase = 'sent';
          });
          socket.once('close', () => socket.off('keylog', onKeylog));
        } else if (socket.connecting) {
          socket.once('connect', () => void (phase = 'sent'));
        } else {
          phase = 'sent';
        }
      });
      req.on('error', (err) => fail(err));
      req.on('response', (res) => {
        answered = true;
        const status = res.statusCode ?? 0;
        const hint = keepAliveTimeout(res.headers['keep-alive']);
        if (hint !== undefined) serverIdleLimit.set(res.socket, hint * 1000 - KEEP_ALIVE_MARGIN_MS);
        // Memory stays bounded whatever the server sends: refuse a declared length at once, count the rest as it comes.
        const tooLarge = (): void => {
          settle(() => reject(new TooLarge(status, this.#maxResponseBytes)));
          req.destroy();
        };
        if (Number(res.headers['content-length'] ?? 0) > this.#maxResponseBytes) return tooLarge();
        const chunks: Buffer[] = [];
        let received = 0;
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > this.#maxResponseBytes) return tooLarge();
          chunks.push(chunk);
        });
        res.on('error', (err) => fail(err));
        res.on('end', () => {
          if (!res.complete) return fail(Object.assign(new Error('the answer was cut off'), { code: 'ECONNRESET' }));
          settle(() => resolve({ status, headers: res.headers, body: Buffer.concat(chunks) }));
        });
      });
      req.end(attempt.body);
    });
  }

  /** Close the transport's own agent's connections (a caller's agent is the caller's to close). */
  close(): void {
    if (this.#ownAgent) this.#agent.destroy();
  }
}

/** The cause in words, without anything from the request (its path holds the key). */
function describe(cause: unknown): string {
  const err = cause as NodeJS.ErrnoException;
  return err.code !== undefined ? `${err.code}` : String(err.message);
}
