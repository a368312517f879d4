/**
 * FirkinClient: Firkin's HTTP API as six methods. Idempotent operations (get, set,
 * delete, touch) are retried on 503 (after Retry-After) and on connection failures
 * until `timeoutMs` has passed; add and cas are sent once, since a second attempt
 * after an unknown outcome could report its own earlier success as a conflict.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorFor, FirkinUnavailableError, parseRetryAfter, readProblem } from './errors.js';
import { NoAnswer, Transport, type Exchange, type TlsOptions } from './transport.js';

export interface FirkinClientOptions {
  /** The namespace's URL, e.g. `http://127.0.0.1:8081/sessions/v1/` (a missing trailing `/` is added). */
  readonly baseUrl: string | URL;
  /** A bearer token, sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** CA, client certificate and key for HTTPS and mutual TLS. */
  readonly tls?: TlsOptions;
  /** How long one operation may take, retries included (default 5000 ms). */
  readonly timeoutMs?: number;
}

export interface WriteOptions {
  /** Seconds the value lives (a positive integer); the server never keeps it beyond the namespace's default. */
  readonly ttl?: number;
}

export interface Entry {
  readonly value: Buffer;
  /** The strong entity-tag, quotes included, as `cas` takes it. */
  readonly etag: string;
  /** Remaining lifetime in seconds; absent for a value that never expires. */
  readonly ttl?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;
/** Pause before retrying after no answer, or after a 503 without Retry-After; doubled each time up to the cap. */
const FIRST_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1000;

interface Operation {
  readonly name: string;
  readonly method: string;
  readonly key: string;
  readonly headers?: Record<string, string>;
  readonly body?: Buffer;
  readonly idempotent: boolean;
}

export class FirkinClient {
  readonly #transport: Transport;
  readonly #basePath: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;

  constructor(options: FirkinClientOptions) {
    const base = new URL(options.baseUrl);
    if (base.search !== '' || base.hash !== '') throw new TypeError('baseUrl must have no query or fragment');
    this.#basePath = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
    this.#transport = new Transport(base, options.tls);
    this.#headers = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` };
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(this.#timeoutMs > 0)) throw new RangeError('timeoutMs must be positive');
  }

  /** The value, its ETag and remaining TTL; undefined when the key is absent or expired. */
  async get(key: string): Promise<Entry | undefined> {
    const res = await this.#perform({ name: 'get', method: 'GET', key, idempotent: true });
    if (res.status === 404) return undefined;
    this.#expect('get', res, 200);
    const ttl = res.headers['x-ttl'];
    const entry = { value: res.body, etag: etagOf(res) };
    return typeof ttl === 'string' && /^\d+$/.test(ttl) ? { ...entry, ttl: Number(ttl) } : entry;
  }

  /** Store `value` under `key` (replacing any value). */
  async set(key: string, value: Buffer | string, options: WriteOptions = {}): Promise<{ etag: string }> {
    const res = await this.#perform({ name: 'set', method: 'PUT', key, headers: ttlHeader(options), body: bytes(value), idempotent: true });
    this.#expect('set', res, 201);
    return { etag: etagOf(res) };
  }

  /** Store `value` only if `key` holds no live value: true if stored, false if one existed. */
  async add(key: string, value: Buffer | string, options: WriteOptions = {}): Promise<boolean> {
    const headers = { ...ttlHeader(options), 'if-none-match': '*' };
    const res = await this.#perform({ name: 'add', method: 'PUT', key, headers, body: bytes(value), idempotent: false });
    if (res.status === 412) return false;
    this.#expect('add', res, 201);
    return true;
  }

  /** Store `value` only if the live value's ETag is still `etag`: true if stored, false if it changed (or expired). */
  async cas(key: string, value: Buffer | string, etag: string, options: WriteOptions = {}): Promise<boolean> {
    const headers = { ...ttlHeader(options), 'if-match': etag };
    const res = await this.#perform({ name: 'cas', method: 'PUT', key, headers, body: bytes(value), idempotent: false });
    if (res.status === 412) return false;
    this.#expect('cas', res, 201);
    return true;
  }

  /** Remove `key` (whether or not it existed). */
  async delete(key: string): Promise<void> {
    const res = await this.#perform({ name: 'delete', method: 'DELETE', key, idempotent: true });
    this.#expect('delete', res, 204);
  }

  /** Extend the live value's lifetime without sending it: true, or false if the key is absent or expired. */
  async touch(key: string, options: WriteOptions = {}): Promise<boolean> {
    const res = await this.#perform({ name: 'touch', method: 'PATCH', key, headers: ttlHeader(options), idempotent: true });
    if (res.status === 404) return false;
    this.#expect('touch', res, 204);
    return true;
  }

  /** Close the kept-alive connections; the client must not be used afterwards. */
  close(): void {
    this.#transport.close();
  }

  #expect(operation: string, res: Exchange, status: number): void {
    if (res.status === status) return;
    throw errorFor(operation, readProblem(res.status, res.body, header(res, 'content-type')), parseRetryAfter(header(res, 'retry-after')));
  }

  /** Send `op`, retrying an idempotent one on 503 and on no answer until the deadline; the last answer otherwise. */
  async #perform(op: Operation): Promise<Exchange> {
    if (typeof op.key !== 'string' || op.key === '') throw new TypeError('key must be a non-empty string');
    const deadline = Date.now() + this.#timeoutMs;
    const path = this.#basePath + encodeKey(op.key);
    const headers = { ...this.#headers, ...op.headers, ...(op.body === undefined ? {} : { 'content-type': 'application/octet-stream' }) };
    let last503: Exchange | undefined;
    for (let backoff = FIRST_BACKOFF_MS; ; backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)) {
      let pause: number;
      try {
        const res = await this.#transport.send({ method: op.method, path, headers, body: op.body, timeoutMs: Math.max(1, deadline - Date.now()) });
        if (res.status !== 503 || !op.idempotent) return res;
        last503 = res;
        const retryAfter = parseRetryAfter(header(res, 'retry-after'));
        // The caller gets the 503 itself when the wait it asks for does not fit, or no time is left.
        if (retryAfter !== undefined) {
          pause = retryAfter * 1000;
          if (Date.now() + pause >= deadline) return res;
        } else {
          pause = Math.min(backoff, deadline - Date.now());
          if (pause <= 0) return res;
        }
      } catch (err) {
        if (!(err instanceof NoAnswer)) throw err;
        const why = `firkin ${op.name}: no answer from ${this.#transport.origin} (${err.message})`;
        const unavailable = (more: string): FirkinUnavailableError =>
          new FirkinUnavailableError(why + more, undefined, undefined, undefined, undefined, { cause: err });
        if (!op.idempotent) throw unavailable('; not retried: the write may or may not have been applied');
        // A last attempt as the deadline comes, rather than giving up a backoff early.
        pause = Math.min(backoff, deadline - Date.now());
        if (pause <= 0) {
          if (last503 !== undefined) return last503; // the server's own word says more than the last attempt's timeout
          throw unavailable(` within ${this.#timeoutMs} ms`);
        }
      }
      await sleep(pause);
    }
  }
}

function encodeKey(key: string): string {
  return key === '.' || key === '..' ? key.replaceAll('.', '%2E') : encodeURIComponent(key);
}

function bytes(value: Buffer | string): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (Buffer.isBuffer(value)) return value;
  throw new TypeError('value must be a Buffer or a string');
}

function ttlHeader(options: WriteOptions): Record<string, string> {
  if (options.ttl === undefined) return {};
  if (!Number.isSafeInteger(options.ttl) || options.ttl <= 0) throw new RangeError('ttl must be a positive whole number of seconds');
  return { 'cache-control': `max-age=${options.ttl}` };
}

function header(res: Exchange, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function etagOf(res: Exchange): string {
  return header(res, 'etag') ?? '';
}
