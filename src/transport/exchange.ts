/**
 * One request, from its arrival to its answer having left: the transport's part of
 * every exchange. `createExchange` gives the listener its request handler, which
 *
 *   0. with mutual TLS, checks the connection's client certificate (tls.ts) and, if it
 *      is refused (another CA, expired, revoked), drops the connection without routing
 *      the request; refuses ambiguous framing (RFC 9112: Transfer-Encoding in HTTP/1.0
 *      or other than chunked, several Host fields; llhttp refuses the rest, such as
 *      Content-Length with Transfer-Encoding) with 400 and a close; answers a request
 *      asking to upgrade the protocol as an ordinary one, then closes (node:http parses
 *      nothing more of what came with it); serves an absolute-form target by its path;
 *   1. counts the request in flight (in-flight.ts) and refuses it (503) past
 *      `max_in_flight`, unless it is for a service endpoint that does no storage work
 *      (those are neither counted nor refused); while its body arrives it gives the
 *      slot back, and takes one again once the body is in (503 if none is free then),
 *      so slow bodies cannot hold the slots; the body must keep arriving (body.ts)
 *      and its bytes count against the budget of bodies being received;
 *   2. builds its context (base/request.ts): fixed shape, never changed afterwards;
 *      reading the body and inviting it (`100 Continue`) are its only doors back to
 *      the socket;
 *   3. asks the API for the answer and writes it, with what every answer carries:
 *      `Cache-Control: no-store`, the request ID, `Connection: close` where the
 *      connection must not carry another request, a place in the process's budget of
 *      response bytes, and a deadline for the client to take them;
 *   4. reports it (the metrics and the log, wired at assembly).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ANONYMOUS, type BodyResult, type Peer, type RequestContext, type ServiceState } from '../base/request.js';
import { problem, type Answer, type Served } from '../api/answer.js';
import type { Api } from '../api/handler.js';
import { PROBLEMS, type ProblemType } from '../api/problem.js';
import { RETRY_AFTER_SECONDS } from '../api/protocol.js';
import type { Logger } from '../log/logger.js';
import { readBody, type BodyPace } from './body.js';
import type { ByteBudget } from './byte-budget.js';
import type { InFlight } from './in-flight.js';
import { newRequestId } from './request-id.js';

/** What the transport reports, for the metrics and the log (wired at assembly). */
export interface ExchangeHooks {
  /**
   * A request ended: answered with `status`, or (`status` undefined) abandoned by its
   * client before an answer could be written. `seconds` from its arrival.
   */
  served(ctx: RequestContext, served: Served, status: number | undefined, seconds: number): void;
  /** A request answered before it could be parsed (malformed HTTP, CONNECT): its status only. */
  refusedUnparsed(status: number): void;
}

/** What every exchange of the process shares. */
export interface ExchangeLimits {
  /** Requests served at once; beyond it, 503 at once (service endpoints that do no storage work exempt). */
  readonly maxInFlight: number;
  /** The process's one count of requests being served (every listener of it). */
  readonly inFlight: InFlight;
  /** Bytes of response bodies not yet handed to the kernel, across the process. */
  readonly budget: ByteBudget;
  /** Bytes of request bodies received and held (until the request's answer has left), across the process. */
  readonly bodies: ByteBudget;
  /** How fast a request body must keep arriving. */
  readonly bodyPace: BodyPace;
  /** A response still not flushed this long after it was written closes its connection. */
  readonly writeTimeoutMs: number;
  /** While the service drains before exit, answers ask clients to reconnect elsewhere. */
  readonly state: ServiceState;
}

export interface ExchangeOptions {
  readonly api: Api;
  readonly hooks: ExchangeHooks;
  readonly limits: ExchangeLimits;
  readonly logger: Logger;
  /**
   * With mutual TLS: what the client certificate of a request's connection proves, checked
   * now (tls.ts ClientCertificates.admit); undefined if the connection is refused (logged
   * and destroyed). Without, every client is anonymous.
   */
  readonly admitPeer?: ((socket: Socket) => Peer | undefined) | undefined;
}

/** Serve a request; with `refuse`, answer that problem without asking the API. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse, refuse?: ProblemType) => void;

/**
 * An incoming X-Request-ID is echoed only if it is 1-128 characters that are safe in a
 * URI (it becomes part of a problem's `instance`); otherwise a new one is made.
 */
const REQUEST_ID = /^[A-Za-z0-9._~:@!$&'()*+,;=-]{1,128}$/;

/** Bodies up to this size are not counted against the budget (bounded by connections × this). */
const UNCOUNTED_BODY_BYTES = 16 * 1024;

/** An absolute-form target's scheme and authority (RFC 9112 §3.2.2), which a server ignores in favour of its path. */
const ABSOLUTE_FORM = /^https?:\/\/[^/?#]*/i;

/** The target in origin form: an absolute-form target's path and query (`/` if it has no path), else the target as sent. */
export function originForm(target: string): string {
  const authority = ABSOLUTE_FORM.exec(target);
  if (authority === null) return target;
  const rest = target.slice(authority[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** A target's path: without its query. */
function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * A namespace request's in-flight slot (max_in_flight): taken at arrival, given back while
 * the request waits for its body, taken again once the body is in; held otherwise until
 * the answer has left and the handler has finished.
 */
class Slot {
  held = false;

  constructor(private readonly limits: ExchangeLimits) {}

  take(): boolean {
    if (this.held) return true;
    if (this.limits.inFlight.count >= this.limits.maxInFlight) return false;
    this.limits.inFlight.count++;
    this.held = true;
    return true;
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    this.limits.inFlight.count--;
  }
}

class HttpContext implements RequestContext {
  readonly method: string;
  readonly url: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly requestId: string;
  readonly remoteAddress: string | undefined;
  readonly peer: Peer;
  /** Bytes of the body taken from the budget of bodies being received (given back when the answer has left). */
  private bodyBytes = 0;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    /** The target in origin form (originForm). */
    url: string,
    peer: Peer,
    private readonly limits: ExchangeLimits,
    /** The request's in-flight slot; undefined for requests that are not counted. */
    private readonly slot: Slot | undefined,
  ) {
    this.method = req.method ?? '';
    this.url = url;
    this.path = pathOf(url);
    this.headers = req.headers;
    const incoming = req.headers['x-request-id'];
    this.requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : newRequestId();
    this.remoteAddress = req.socket.remoteAddress;
    this.peer = peer;
  }

  async readBody(limit: number): Promise<BodyResult> {
    const { bodies, bodyPace } = this.limits;
    if (this.bodyBytes === 0) this.res.on('close', () => bodies.release(this.bodyBytes));
    // No slot while the body arrives: a slow body must not keep others' requests out.
    this.slot?.release();
    const body = await readBody(this.req, limit, {
      pace: bodyPace,
      take: (bytes) => {
        if (!bodies.take(bytes)) return false;
        this.bodyBytes += bytes;
        return true;
      },
    });
    if (!body.ok) return body;
    if (this.slot !== undefined && !this.slot.take()) return { ok: false, reason: 'overloaded' };
    return body;
  }

  inviteBody(): void {
    this.res.writeContinue();
  }
}

export function createExchange({ api, hooks, limits, logger, admitPeer }: ExchangeOptions): RequestHandler {
  return (req, res, refuse) => {
    const started = performance.now();
    const socket = req.socket;
    // A connection already gone (reset, or refused for its certificate) has nobody to
    // answer and no address to account the request to: it is not routed.
    if (socket.destroyed) return void res.destroy();
    const peer = admitPeer === undefined ? ANONYMOUS : admitPeer(socket);
    if (peer === undefined) return void res.destroy(); // refused (and logged): not routed
    // The connection carries nothing after this answer: ambiguous framing, or a request
    // after which node:http parses nothing more that came with it (Upgrade).
    const framing = refuse === undefined ? framingProblem(req) : undefined;
    const close = framing !== undefined || req.headers.upgrade !== undefined;
    const refused = refuse ?? framing;
    const url = originForm(req.url ?? '');
    // Service endpoints that do no storage work take no slot; nor does a request answered unheard.
    const slot = refused === undefined && !api.exempt(pathOf(url)) ? new Slot(limits) : undefined;
    const ctx = new HttpContext(req, res, url, peer, limits, slot);
    let served: Promise<Served>;
    let settle: (() => void) | undefined;
    if (refused !== undefined) {
      served = Promise.resolve(unrouted(problem(ctx.requestId, refused)));
    } else if (slot === undefined) {
      // Health checks and scrapes are never refused, and never counted.
      served = api.handle(ctx);
    } else if (!slot.take()) {
      served = Promise.resolve(unrouted(problem(ctx.requestId, PROBLEMS.overloaded, undefined, { 'Retry-After': RETRY_AFTER_SECONDS })));
    } else {
      // Counted until both the answer has left and the handler has finished (the engine call returned).
      let pending = 2;
      settle = (): void => {
        if (--pending === 0) slot.release();
      };
      res.on('close', settle);
      served = api.handle(ctx);
    }
    // One reaction per request, not a then/catch/finally chain (two promises fewer, issue 24).
    served.then(
      (s) => {
        try {
          writeAnswer(req, res, s.answer, ctx.requestId, limits, close);
          hooks.served(ctx, s, s.answer.abandoned ? undefined : res.statusCode, (performance.now() - started) / 1000);
        } catch (err) {
          failed(err, req, res, ctx, close, started);
        } finally {
          settle?.();
        }
      },
      (err: unknown) => {
        try {
          failed(err, req, res, ctx, close, started);
        } finally {
          settle?.();
        }
      },
    );
  };

  /** A bug: the API answers every failure it expects itself. (Not a closure per request.) */
  function failed(err: unknown, req: IncomingMessage, res: ServerResponse, ctx: HttpContext, close: boolean, started: number): void {
    logger.error({ request_id: ctx.requestId, method: ctx.method, err }, 'request failed');
    if (res.headersSent || res.destroyed) return void res.destroy();
    const answer = unrouted(problem(ctx.requestId, PROBLEMS.internal));
    writeAnswer(req, res, answer.answer, ctx.requestId, limits, close);
    hooks.served(ctx, answer, res.statusCode, (performance.now() - started) / 1000);
  }
}

/**
 * Framing RFC 9112 makes ambiguous, which a proxy in front may read otherwise than Node
 * does (request smuggling): answered 400, and the connection closed.
 */
function framingProblem(req: IncomingMessage): ProblemType | undefined {
  // §6.1: an HTTP/1.0 message with Transfer-Encoding is treated as faulty framing (even with
  // a Content-Length), and the connection closed after it.
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0 && req.headers['transfer-encoding'] !== undefined) {
    return { ...PROBLEMS.badRequest, detail: 'Transfer-Encoding is not allowed in an HTTP/1.0 request' };
  }
  // §6.1: chunked is the only transfer coding Firkin knows; llhttp frames `gzip, chunked` by
  // its last coding and would hand over the bytes still coded, to be stored as the value.
  const coding = req.headers['transfer-encoding'];
  if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') {
    return { ...PROBLEMS.badRequest, detail: 'The only transfer coding accepted is chunked' };
  }
  // §3.2: a request with more than one Host field is answered 400. (Counted in the raw
  // fields: req.headersDistinct would build a second header object for every request.)
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host' && ++hosts > 1) return { ...PROBLEMS.badRequest, detail: 'A request carries one Host field' };
  }
  return undefined;
}

/** An answer to a request that reached no namespace or endpoint. */
function unrouted(answer: Answer): Served {
  return { answer, endpoint: false, namespace: undefined, key: undefined, operation: undefined, token: undefined };
}

/**
 * Write `answer` (its headers object becomes the response's: the common headers are
 * added to it), with `Connection: close` if `close`. An abandoned request's connection is
 * dropped instead.
 */
function writeAnswer(req: IncomingMessage, res: ServerResponse, answer: Answer, requestId: string, limits: ExchangeLimits, close: boolean): void {
  if (answer.abandoned) {
    res.destroy();
    return;
  }
  const { body, headers } = answer;
  // A short string (a problem document, a 404) is under the bound whatever its encoding
  // (at most 3 bytes per UTF-16 unit), without measuring it.
  const size =
    body === undefined ? 0 : typeof body !== 'string' ? body.length : body.length * 3 <= UNCOUNTED_BODY_BYTES ? 0 : Buffer.byteLength(body);
  if (size > UNCOUNTED_BODY_BYTES && req.method !== 'HEAD') {
    if (!limits.budget.take(size)) {
      const refused = problem(requestId, PROBLEMS.overloaded, 'Too many response bytes are waiting to be sent; retry later', { 'Retry-After': RETRY_AFTER_SECONDS });
      return writeAnswer(req, res, refused, requestId, limits, close);
    }
    res.on('close', () => limits.budget.release(size));
  }
  headers['Cache-Control'] ??= 'no-store';
  headers['X-Request-ID'] = requestId;
  // A body we did not read must not be read later as the next request: close instead.
  if (close || hasUnreadBody(req) || limits.state.draining) headers.Connection = 'close';
  res.writeHead(answer.status, headers);
  res.end(body);
  // What the kernel would not take yet waits in the socket: a client that does not read
  // must not hold it (and its slot) for longer than the write timeout.
  const socket = res.socket;
  if (socket !== null && socket.writableLength > 0 && !res.writableFinished) {
    const timer = setTimeout(() => socket.destroy(), limits.writeTimeoutMs);
    timer.unref();
    res.on('close', () => clearTimeout(timer));
  }
}

function hasUnreadBody(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
