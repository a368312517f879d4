/**
 * FirkinClient: Firkin's HTTP API as six methods. Idempotent operations (get, set,
 * delete, touch) are retried on 503 (after Retry-After) and on connection failures
 * until `timeoutMs` has passed; add and cas are sent again only when their request
 * was certainly not sent (no connection could be made), since a second attempt after
 * an unknown outcome could report its own earlier success as a conflict.
 * Failures that a retry cannot mend (a refused TLS certificate, an oversized or
 * malformed answer) are thrown at once.
 */
import type http from 'node:http';
import { BlockList, isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  errorFor,
  FirkinError,
  FirkinProtocolError,
  FirkinRejectedError,
  FirkinResponseTooLargeError,
  FirkinTlsError,
  FirkinUnavailableError,
  parseRetryAfter,
  readProblem,
} from './errors.js';
import { CertificateRefused, NoAnswer, TooLarge, Transport, Unsendable, type Exchange, type TlsOptions } from './transport.js';

export interface FirkinClientOptions {
  /**
   * The namespace's URL, e.g. `http://127.0.0.1:8081/sessions/v1/` (a missing trailing `/` is added).
   * Its path must name the namespace: a bare origin (`http://host:8081/`) is refused.
   */
  readonly baseUrl: string | URL;
  /**
   * A bearer token, sent as `Authorization: Bearer <token>` (RFC 6750's token68 characters).
   * Over plain `http:` only to a loopback host, unless `allowTokenOverHttp`.
   */
  readonly token?: string;
  /** Send `token` over plain `http:` to a host that is not loopback (where the network is trusted otherwise). Default false. */
  readonly allowTokenOverHttp?: boolean;
  /** CA, client certificate and key for HTTPS and mutual TLS. */
  readonly tls?: TlsOptions;
  /** How long one operation may take, waiting for a connection and retries included (default 5000 ms; at most 2147483647). */
  readonly timeoutMs?: number;
  /**
   * The largest answer body the client reads, in bytes (default 16 MiB + 64 KiB: Firkin's
   * largest allowed max_value_bytes, plus room for a problem document). A larger one
   * fails with FirkinResponseTooLargeError, so a broken server cannot fill memory.
   */
  readonly maxResponseBytes?: number;
  /** Connections to the server at most (default 10); further requests wait for a free one, within timeoutMs. */
  readonly maxSockets?: number;
  /**
   * An idle kept-alive connection is closed after this (default 5000 ms), or sooner
   * when the server announces a shorter keep-alive timeout (`Keep-Alive: timeout=…`, less 1 s).
   */
  readonly idleTimeoutMs?: number;
  /**
   * An `http.Agent` (for an `http:` baseUrl) or `https.Agent` (for `https:`) of your own, shared
   * or tuned as you like: its limits and TLS settings then apply, so `tls`, `maxSockets` and
   * `idleTimeoutMs` cannot be given with it, and `close()` leaves it open.
   */
  readonly agent?: http.Agent;
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
const DEFAULT_MAX_SOCKETS = 10;
/** Node.js's own global agent's idle timeout; the server keeps an idle connection 65 s. */
const DEFAULT_IDLE_TIMEOUT_MS = 5000;
/** setTimeout's largest delay: a longer one fires at once (and an operation would retry without end). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** No further attempt is started with less time than this left: it could only time out. */
const MIN_ATTEMPT_MS = 25;
/** Kask's type for an absent key (Firkin keeps it); any other 404 is not "absent". */
const NOT_FOUND_TYPE = 'https://www.mediawiki.org/wiki/Kask/errors/not_found';
/** RFC 6750's token68, as the server reads `Authorization: Bearer …`. */
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** A strong entity-tag (RFC 9110), as Firkin sends and takes them. */
const STRONG_ETAG = /^"[\x21\x23-\x7e\x80-\xff]*"$/;
/** The server's largest max_value_bytes (MAX_VALUE_BYTES_LIMIT in its config schema), plus room for a problem document. */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024 + 64 * 1024;
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
  #closed = false;

  constructor(options: FirkinClientOptions) {
    const base = new URL(options.baseUrl);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError(`baseUrl must be http: or https:, not ${base.protocol}`);
    if (base.search !== '' || base.hash !== '') throw new TypeError('baseUrl must have no query or fragment');
    if (base.username !== '' || base.password !== '') throw new TypeError('baseUrl must hold no user name or password (use token or tls)');
    // Firkin serves no namespace at / (its endpoints live there: a key "metrics" would read the metrics page).
    if (base.pathname === '/') throw new TypeError("baseUrl must name a namespace's base URI (e.g. http://127.0.0.1:8081/sessions/v1/), not the server's root");
    this.#basePath = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
    const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes <= 0) throw new RangeError('maxResponseBytes must be a positive whole number');
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!isTimerDelay(this.#timeoutMs)) throw new RangeError(`timeoutMs must be positive and at most ${MAX_TIMER_MS}`);
    const { token, agent, tls } = options;
    if (token !== undefined) {
      // Checked here: Node.js would refuse a CR or LF in the header on every request, with its own TypeError.
      if (typeof token !== 'string' || !TOKEN.test(token)) throw new TypeError("token must be a bearer token of RFC 6750's token68 characters (letters, digits, -._~+/ and a trailing =)");
      if (base.protocol === 'http:' && !isLoopback(base.hostname) && options.allowTokenOverHttp !== true) {
        throw new TypeError(`a token would travel in clear text over http: to ${base.host}: use https:, or set allowTokenOverHttp if the network is otherwise protected`);
      }
    }
    if (tls !== undefined && base.protocol !== 'https:') throw new TypeError('tls options need an https: baseUrl');
    if (agent !== undefined) {
      if (tls !== undefined || options.maxSockets !== undefined || options.idleTimeoutMs !== undefined) {
        throw new TypeError('tls, maxSockets and idleTimeoutMs belong to the agent when one is given');
      }
      if ((agent as { protocol?: string }).protocol !== base.protocol) throw new TypeError(`agent must be an ${base.protocol === 'https:' ? 'https' : 'http'}.Agent for an ${base.protocol} baseUrl`);
    }
    const maxSockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
    if (!Number.isSafeInteger(maxSockets) || maxSockets <= 0) throw new RangeError('maxSockets must be a positive whole number');
    const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    if (!isTimerDelay(idleTimeoutMs)) throw new RangeError(`idleTimeoutMs must be positive and at most ${MAX_TIMER_MS}`);
    this.#transport = new Transport(base, { tls, maxResponseBytes, maxSockets, idleTimeoutMs, agent });
    this.#headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
  }

  /** The value, its ETag and remaining TTL; undefined when the key is absent or expired. */
  async get(key: string): Promise<Entry | undefined> {
    const res = await this.#perform({ name: 'get', method: 'GET', key, idempotent: true });
    if (isAbsent(res)) return undefined;
    this.#expect('get', res, 200);
    const ttl = res.headers['x-ttl'];
    const entry = { value: res.body, etag: this.#etagOf('get', res) };
    return typeof ttl === 'string' && /^\d+$/.test(ttl) ? { ...entry, ttl: Number(ttl) } : entry;
  }

  /** Store `value` under `key` (replacing any value). */
  async set(key: string, value: Buffer | string, options: WriteOptions = {}): Promise<{ etag: string }> {
    const res = await this.#perform({ name: 'set', method: 'PUT', key, headers: ttlHeader(options), body: bytes(value), idempotent: true });
    this.#expect('set', res, 201);
    return { etag: this.#etagOf('set', res) };
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
    // Checked here: Node.js would refuse a CR or LF in the header with its own TypeError.
    if (typeof etag !== 'string' || !STRONG_ETAG.test(etag)) throw new TypeError('etag must be a strong entity-tag, quotes included, as get() or set() returned it');
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
    if (isAbsent(res)) return false;
    this.#expect('touch', res, 204);
    return true;
  }

  /** Close the kept-alive connections (of the client's own agent); operations called afterwards throw FirkinError('… client closed'). */
  close(): void {
    this.#closed = true;
    this.#transport.close();
  }

  #expect(operation: string, res: Exchange, status: number): void {
    if (res.status === status) return;
    const problem = readProblem(res.status, res.body, header(res, 'content-type'));
    if (res.status === 404) {
      // Not an absent key (get and touch took those): no namespace here, as the server said (no-namespace) or as its answer shows.
      const what = problem.type === undefined ? 'an answer that is no Firkin problem document' : problem.type;
      throw new FirkinRejectedError(`firkin ${operation}: no namespace at ${this.#transport.origin}${this.#basePath} (404, ${what}): check baseUrl`, 404, problem.type, problem.detail);
    }
    throw errorFor(operation, problem, parseRetryAfter(header(res, 'retry-after')));
  }

  /** The answer's strong ETag, which Firkin always sends with a 200 and a 201. */
  #etagOf(operation: string, res: Exchange): string {
    const etag = header(res, 'etag');
    if (etag !== undefined && STRONG_ETAG.test(etag)) return etag;
    const stored = operation === 'set' ? ' (it says the value was stored)' : '';
    throw new FirkinProtocolError(
      `firkin ${operation}: the answer (${res.status}) from ${this.#transport.origin} has ${etag === undefined ? 'no' : 'a malformed'} ETag, which Firkin always sends${stored}: does baseUrl name a Firkin namespace?`,
      res.status,
    );
  }

  /** Send `op`, retrying an idempotent one on 503 and on no answer, any one when it was not sent, until the deadline; the last answer otherwise. */
  async #perform(op: Operation): Promise<Exchange> {
    if (typeof op.key !== 'string' || op.key === '') throw new TypeError('key must be a non-empty string');
    // encodeURIComponent would throw a bare URIError; and the server could not store such a key as UTF-8 anyway.
    if (LONE_SURROGATE.test(op.key)) throw new TypeError('key must be well-formed Unicode (it holds a lone surrogate)');
    const deadline = Date.now() + this.#timeoutMs;
    const path = this.#basePath + encodeKey(op.key);
    const headers = { ...this.#headers, ...op.headers, ...(op.body === undefined ? {} : { 'content-type': 'application/octet-stream' }) };
    const origin = this.#transport.origin;
    let last503: Exchange | undefined;
    let attempts = 0;
    let sent = false;
    /** The last attempt's failure, and the last one the network reported (a refusal, a reset…): it says more than a later attempt's timeout. */
    let failed: NoAnswer | undefined;
    let reported: NoAnswer | undefined;
    /** At the deadline: the last 503 (the server's own word says more than later failures), else the failures. */
    const giveUp = (): Exchange => {
      if (last503 !== undefined) return last503;
      const last = failed!;
      const what = reported === undefined || reported === last ? last.message : `${reported.message}; then the last attempt ${last.message}`;
      throw new FirkinUnavailableError(
        `firkin ${op.name}: no answer from ${origin} within ${this.#timeoutMs} ms, ${attempts} attempt${attempts === 1 ? '' : 's'} (${what})` +
          (sent ? '' : '; the request was not sent: nothing was applied'),
        undefined,
        undefined,
        undefined,
        undefined,
        { cause: reported ?? last, sent },
      );
    };
    for (let backoff = FIRST_BACKOFF_MS; ; backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)) {
      // Checked before every attempt: a client closed while an operation waits to retry opens no new connection.
      if (this.#closed) throw new FirkinError(`firkin ${op.name}: client closed`);
      // No attempt that could only time out (its failure would hide the real one).
      if (attempts > 0 && deadline - Date.now() < MIN_ATTEMPT_MS) return giveUp();
      let pause: number;
      attempts++;
      try {
        const res = await this.#transport.send({ method: op.method, path, headers, body: op.body, timeoutMs: Math.max(1, deadline - Date.now()) });
        if (res.status !== 503 || !op.idempotent) return res;
        last503 = res;
        const retryAfter = parseRetryAfter(header(res, 'retry-after'));
        // The caller gets the 503 itself when the wait it asks for does not fit, or no time is left.
        if (retryAfter !== undefined && Date.now() + retryAfter * 1000 >= deadline) return res;
        // Never less than the backoff: `Retry-After: 0` must not make a tight loop.
        pause = Math.min(Math.max((retryAfter ?? 0) * 1000, backoff), deadline - Date.now());
        if (pause <= 0) return res;
      } catch (err) {
        if (err instanceof TooLarge) {
          throw new FirkinResponseTooLargeError(`firkin ${op.name}: the answer (${err.status}) from ${origin} exceeds maxResponseBytes (${err.limit}); not read, not retried`, err.status, err.limit);
        }
        if (err instanceof CertificateRefused) {
          throw new FirkinTlsError(
            `firkin ${op.name}: ${origin} closed the connection right after the TLS handshake, before any answer: it refused the client certificate (Firkin does so when its CA did not sign it); not retried`,
            'CLIENT_CERTIFICATE_REFUSED',
            { cause: err },
          );
        }
        if (err instanceof Unsendable) throw new FirkinError(`firkin ${op.name}: the request could not be made (${err.message}); nothing was sent`, { cause: err });
        if (!(err instanceof NoAnswer)) throw new FirkinError(`firkin ${op.name}: unexpected failure with ${origin}`, { cause: err });
        const tls = tlsFailure(err.cause);
        if (tls !== undefined) throw new FirkinTlsError(`firkin ${op.name}: TLS with ${origin} failed, ${tls.what} (${tls.code}); not retried`, tls.code, { cause: err });
        sent ||= err.sent;
        failed = err;
        if (!err.timedOut) reported = err;
        if (err.sent && !op.idempotent) {
          throw new FirkinUnavailableError(
            `firkin ${op.name}: no answer from ${origin} (${err.message}) after the request was sent; not retried: the write may or may not have been applied`,
            undefined,
            undefined,
            undefined,
            undefined,
            { cause: err, sent: true },
          );
        }
        // A last attempt as the deadline comes, rather than giving up a backoff early.
        pause = Math.min(backoff, deadline - Date.now());
        if (pause <= 0) return giveUp();
      }
      await sleep(pause);
    }
  }
}

/** A number of milliseconds setTimeout honours: positive, at most 2^31-1 (not Infinity, not a string). */
function isTimerDelay(ms: unknown): ms is number {
  return typeof ms === 'number' && ms > 0 && ms <= MAX_TIMER_MS;
}

/** Loopback addresses and names: where a token over plain http: does not leave the host. */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:7f00:0', 104, 'ipv6'); // IPv4-mapped 127.0.0.0/8, as URL writes it

function isLoopback(hostname: string): boolean {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const family = isIP(host);
  if (family === 0) return host === 'localhost' || host.endsWith('.localhost');
  return LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/** A 404 that says the key is absent (Kask's not_found problem), not that the path names no namespace. */
function isAbsent(res: Exchange): boolean {
  return res.status === 404 && readProblem(res.status, res.body, header(res, 'content-type')).type === NOT_FOUND_TYPE;
}

/** Codes of a server certificate that failed verification (OpenSSL's X509_V_ERR names as Node.js reports them, and its host name check). */
const SERVER_CERTIFICATE_REFUSED =
  /^(CERT_\w+|ERR_TLS_CERT_\w+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|HOSTNAME_MISMATCH)$/;
/**
 * Other TLS failures no retry mends: a handshake alert (e.g. the server refused the client's
 * certificate), a protocol mismatch (EPROTO: OpenSSL's "wrong version number", as for an
 * https: URL to a plain HTTP listener).
 */
const TLS_FAILURE = /^(ERR_TLS_\w+|ERR_SSL_\w+|EPROTO)$/;

/** The code and a description of a TLS failure that no retry mends; undefined for any other failure. */
function tlsFailure(cause: unknown): { code: string; what: string } | undefined {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string') return undefined;
  if (SERVER_CERTIFICATE_REFUSED.test(code)) return { code, what: "the server's certificate was refused" };
  if (TLS_FAILURE.test(code)) return { code, what: 'the TLS handshake failed' };
  return undefined;
}

/** In a `u` regex a surrogate pair is one code point, so this matches only a surrogate without its other half. */
const LONE_SURROGATE = /\p{Cs}/u;

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
