/**
 * One HTTP exchange with Firkin over a keep-alive agent (node:http or node:https).
 * A client certificate belongs to the agent, not to a request, so TLS settings
 * make an https.Agent; every request of a client shares its connections.
 */
import http from 'node:http';
import https from 'node:https';

export interface TlsOptions {
  /** CA certificate(s) that signed the server's certificate (PEM). Default: Node's bundled roots. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /** Client certificate for mutual TLS (PEM, may hold the chain). */
  readonly cert?: string | Buffer;
  /** Its private key (PEM). */
  readonly key?: string | Buffer;
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

export class Transport {
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;
  readonly #origin: URL;
  readonly #maxResponseBytes: number;

  constructor(origin: URL, tls: TlsOptions | undefined, maxResponseBytes: number) {
    this.#origin = origin;
    this.#maxResponseBytes = maxResponseBytes;
    const secure = origin.protocol === 'https:';
    if (!secure && origin.protocol !== 'http:') throw new TypeError(`baseUrl must be http: or https:, not ${origin.protocol}`);
    if (!secure && tls !== undefined) throw new TypeError('tls options need an https: baseUrl');
    this.#agent = secure
      ? new https.Agent({ keepAlive: true, ca: tls?.ca as https.AgentOptions['ca'], cert: tls?.cert, key: tls?.key })
      : new http.Agent({ keepAlive: true });
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
        hostname: this.#origin.hostname,
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

  close(): void {
    this.#agent.destroy();
  }
}

/** The cause in words, without anything from the request (its path holds the key). */
function describe(cause: unknown): string {
  const err = cause as NodeJS.ErrnoException;
  return err.code !== undefined ? `${err.code}` : String(err.message);
}
