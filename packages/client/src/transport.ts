/**
 * One HTTP exchange with Firkin over a keep-alive agent (node:http or node:https).
 * A client certificate belongs to the agent, not to a request, so TLS settings
 * make an https.Agent; every request of a client shares its connections, at most
 * `maxSockets` of them, each closed once idle for `idleTimeoutMs` or before the
 * server's own keep-alive timeout (its `Keep-Alive: timeout=…` hint), whichever
 * comes first.
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

/** No answer arrived (refused, reset, timed out): the request may or may not have reached the server. */
export class NoAnswer extends Error {
  override name = 'NoAnswer';
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

export class Transport {
  readonly #agent: http.Agent;
  readonly #ownAgent: boolean;
  readonly #request: typeof http.request;
  readonly #origin: URL;
  /** The host to connect to: the URL's, without the brackets of an IPv6 literal. */
  readonly #hostname: string;
  readonly #maxResponseBytes: number;

  constructor(origin: URL, options: TransportOptions) {
    this.#origin = origin;
    this.#maxResponseBytes = options.maxResponseBytes;
    const secure = origin.protocol === 'https:';
    this.#hostname = origin.hostname.startsWith('[') && origin.hostname.endsWith(']') ? origin.hostname.slice(1, -1) : origin.hostname;
    const { tls, agent } = options;
    if (agent !== undefined) {
      this.#agent = agent;
      this.#ownAgent = false;
    } else {
      const common = { keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: options.maxSockets, scheduling: 'lifo' } as const;
      this.#agent = secure
        ? new BoundedHttpsAgent({ ...common, ca: tls?.ca as https.AgentOptions['ca'], cert: tls?.cert, key: tls?.key }, options.idleTimeoutMs)
        : new BoundedHttpAgent(common, options.idleTimeoutMs);
      this.#ownAgent = true;
    }
    this.#request = secure ? https.request : http.request;
  }

  /** scheme://host:port, for messages (never the path: it holds keys). */
  get origin(): string {
    return this.#origin.origin;
  }

  send(attempt: Attempt): Promise<Exchange> {
    return new Promise((resolve, reject) => {
      const failed = (cause: unknown): void => reject(new NoAnswer(describe(cause), { cause }));
      const req = this.#request({
        agent: this.#agent,
        protocol: this.#origin.protocol,
        hostname: this.#hostname,
        port: this.#origin.port,
        method: attempt.method,
        path: attempt.path,
        headers: attempt.body === undefined ? attempt.headers : { ...attempt.headers, 'content-length': attempt.body.length },
      });
      // One deadline for the whole exchange, answer included: a server that stalls mid-body fails too.
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${attempt.timeoutMs} ms`)), attempt.timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        failed(err);
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const hint = keepAliveTimeout(res.headers['keep-alive']);
        if (hint !== undefined) serverIdleLimit.set(res.socket, hint * 1000 - KEEP_ALIVE_MARGIN_MS);
        // Memory stays bounded whatever the server sends: refuse a declared length at once, count the rest as it comes.
        const tooLarge = (): void => {
          clearTimeout(timer);
          reject(new TooLarge(status, this.#maxResponseBytes));
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
        res.on('error', (err) => {
          clearTimeout(timer);
          failed(err);
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status, headers: res.headers, body: Buffer.concat(chunks) });
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
