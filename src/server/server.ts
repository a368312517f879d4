/**
 * The HTTP(S) listener: node:http (or node:https when Kask's tls keys are set)
 * with bounded timeouts, malformed-request answers as problem documents, and a
 * graceful close that lets in-flight requests finish.
 */
import { createServer as createHttpServer, STATUS_CODES, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { FirkinConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Namespace } from '../namespace/namespace.js';
import { randomUUID } from 'node:crypto';
import type { Authentication } from './authentication.js';
import type { serviceEndpoints } from './endpoints.js';
import type { ByteBudget } from './byte-budget.js';
import { MAX_WAITING_HEAD_BYTES, oneAtATime } from './connection-lane.js';
import { createHandler } from './handler.js';
import { PROBLEMS, problemBody, type ProblemType } from './problem.js';
import { ALLOWED_METHODS } from './protocol.js';
import { isCertificateError } from './refusal-log.js';
import { refuseForeignCertificates, secureContextOptions, serverTlsOptions } from './tls.js';

export interface ServerOptions {
  readonly config: FirkinConfig;
  readonly namespaces: readonly Namespace[];
  readonly logger: Logger;
  readonly engine: string;
  readonly metrics: Metrics;
  readonly endpoints: ReturnType<typeof serviceEndpoints>;
  /** The process's failed-authentication throttle and log (shared by its listeners). */
  readonly auth: Authentication;
  /** True once the service is draining before exit. */
  readonly closing: () => boolean;
  /** Bytes of response bodies waiting to leave: one budget for every listener of the process. */
  readonly budget: ByteBudget;
  /** Listen here instead of the config's listen_address / listen_port (the admin listener). */
  readonly listen?: { readonly address: string; readonly port: number };
}

export interface RunningServer {
  readonly server: Server;
  /** e.g. http://127.0.0.1:8081 */
  readonly url: string;
  /** Stop accepting, let in-flight requests finish for up to `drainMs`, then drop what is left. */
  close(drainMs?: number): Promise<void>;
  /** Read the TLS certificate, key and CA again; new connections use them, open ones are kept. */
  reloadTls(): void;
}

/** Limits on the connection itself; request-level limits live in the handler. */
export const TIMEOUTS = {
  /** A TLS handshake must complete within this (Node's default is 120 s). */
  handshakeMs: 10_000,
  /** The whole request head must arrive within this. */
  headersMs: 10_000,
  /** The whole request, body included, must arrive within this. */
  requestMs: 30_000,
  /** An idle keep-alive connection is closed after this. */
  keepAliveMs: 65_000,
  /** A connection with no traffic either way (e.g. a client that stops reading its response) is dropped after this. */
  socketIdleMs: 120_000,
} as const;

/** Node's default limit on a request head (request line and header fields), kept as the floor. */
export const MIN_REQUEST_HEAD_BYTES = 16 * 1024;
/** Room for the method, base URI, HTTP version and ordinary header fields beside the key. */
const HEAD_ROOM_BYTES = 4 * 1024;

/**
 * The request-head limit (node:http `maxHeaderSize`, which counts the request line too):
 * large enough that a key of `max_key_bytes`, every byte percent-encoded (`%XX`), fits
 * under the longest base URI, and never under Node's default 16 KiB.
 */
export function requestHeadLimit(config: Pick<FirkinConfig, 'maxKeyBytes' | 'namespaces'>): number {
  const longestBase = Math.max(0, ...config.namespaces.map((ns) => ns.baseUri.length));
  return Math.max(MIN_REQUEST_HEAD_BYTES, 3 * config.maxKeyBytes + longestBase + HEAD_ROOM_BYTES);
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { config, logger, metrics } = options;
  const maxHeaderSize = requestHeadLimit(config);
  // Pipelined requests wait their turn: a connection's next request is served once the
  // previous response has left (src/server/connection-lane.ts). One request of the
  // largest head allowed may always wait.
  const handler = oneAtATime(createHandler({
    namespaces: options.namespaces,
    maxKeyBytes: config.maxKeyBytes,
    maxValueBytes: config.maxValueBytes,
    maxInFlight: config.maxInFlight,
    budget: options.budget,
    writeTimeoutMs: config.writeTimeoutMs,
    mutualTls: config.tls?.ca !== undefined,
    logger,
    engine: options.engine,
    metrics,
    endpoints: options.endpoints,
    auth: options.auth,
    closing: options.closing,
  }), { maxWaitingHeadBytes: Math.max(MAX_WAITING_HEAD_BYTES, maxHeaderSize) });
  const serverOptions = {
    maxHeaderSize,
    headersTimeout: TIMEOUTS.headersMs,
    requestTimeout: TIMEOUTS.requestMs,
    keepAliveTimeout: TIMEOUTS.keepAliveMs,
    // Enforce the two timeouts above within a second (Node checks every 30 s by default).
    connectionsCheckingInterval: 1000,
    // Host is meaningless to a session store; the handler answers every request itself.
    requireHostHeader: false,
  };
  let server: Server;
  if (config.tls) {
    const https = createHttpsServer({ ...serverOptions, ...serverTlsOptions(config.tls), handshakeTimeout: TIMEOUTS.handshakeMs }, handler);
    const refusals = options.auth.refusals;
    if (config.tls.ca !== undefined) refuseForeignCertificates(https, (socket, cause, claimed) => refusals.certificateRefused(socket, cause, claimed));
    // A handshake that failed (the clientError listener below drops its connection): logged
    // at info if it was refused for the client's certificate, else at debug (scanners, timeouts).
    https.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      const cause = err.code ?? 'unknown';
      if (isCertificateError(err.code)) refusals.certificateRefused(socket, cause, undefined);
      else refusals.handshakeFailed(socket, cause);
    });
    server = https;
  } else {
    server = createHttpServer(serverOptions, handler);
  }
  // Beyond this many connections, new ones are closed at once.
  server.maxConnections = config.maxConnections;
  // A client that half-closes after sending its request (shutdown(SHUT_WR), `nc -N`) still
  // gets its answer; Node's default would abandon the request on the client's FIN.
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  // Without a callback, a socket idle this long is destroyed.
  server.setTimeout(TIMEOUTS.socketIdleMs);
  // `Expect: 100-continue`: the handler sends 100 Continue itself, only once it has decided to read the body.
  server.on('checkContinue', handler);
  // Any other expectation: 417 as a problem document, through the handler's common headers.
  server.on('checkExpectation', (req, res) => handler(req, res, { ...PROBLEMS.expectationFailed }));

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || socket.destroyed) return socket.destroy();
    // A TLS connection whose handshake never completed cannot carry an answer: writing one
    // would wait forever and hold the connection (and a max_connections slot). Drop it.
    if (err.code?.startsWith('ERR_TLS') || err.code?.startsWith('ERR_SSL') || (config.tls && !handshakeDone(socket))) {
      return socket.destroy();
    }
    const problem: ProblemType =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? PROBLEMS.headersTooLarge
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? PROBLEMS.requestTimeout
          : err.code === 'HPE_INVALID_METHOD'
            ? PROBLEMS.methodNotAllowed
            : { ...PROBLEMS.badRequest, detail: 'The request is not valid HTTP/1.1' };
    rawProblem(socket, problem);
    metrics.request(undefined, problem.status, '', undefined, undefined);
  });
  // CONNECT never reaches the request handler; refuse it here.
  server.on('connect', (_req, socket: Socket) => {
    rawProblem(socket, { ...PROBLEMS.methodNotAllowed });
    metrics.request(undefined, 405, '', undefined, undefined);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen?.port ?? config.listenPort, options.listen?.address ?? config.listenAddress, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${config.tls ? 'https' : 'http'}://${host}:${address.port}`;

  return {
    server,
    url,
    reloadTls: () => {
      if (config.tls) (server as HttpsServer).setSecureContext(secureContextOptions(config.tls));
    },
    close: (drainMs = 10_000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), drainMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

function handshakeDone(socket: Socket): boolean {
  return (socket as Socket & { _secureEstablished?: boolean })._secureEstablished === true;
}

/** Answer on a raw socket (no request object exists) and close it. */
function rawProblem(socket: Socket, problem: ProblemType): void {
  const requestId = randomUUID();
  const body = problemBody(problem, requestId);
  socket.end(
    // The standard reason phrase, as node:http writes it for every other answer.
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? problem.title}\r\n` +
      'Content-Type: application/problem+json\r\n' +
      'X-Content-Type-Options: nosniff\r\n' +
      'Cache-Control: no-store\r\n' +
      `X-Request-ID: ${requestId}\r\n` +
      (problem.status === 405 ? `Allow: ${ALLOWED_METHODS}\r\n` : '') +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}
