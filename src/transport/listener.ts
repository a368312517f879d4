/**
 * The HTTP(S) listener: node:http (or node:https when Kask's tls keys are set) with
 * bounded timeouts, malformed requests answered as problem documents, each
 * connection served one request at a time (lane.ts), and a graceful close that
 * lets in-flight requests finish. Each request is an exchange (exchange.ts).
 */
import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { randomBytes, randomUUID } from 'node:crypto';
import { answerHalfClosedClients, handshakeDone } from '../base/internals.js';
import { readServerTls } from '../config/tls-files.js';
import type { FirkinConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { isCertificateError, type RefusalLog } from '../access/refusal-log.js';
import type { Api } from '../api/handler.js';
import { PROBLEMS, problemBody, type ProblemType } from '../api/problem.js';
import { ALLOWED_METHODS } from '../api/protocol.js';
import type { BodyPace } from './body.js';
import { createExchange, type ExchangeHooks, type ExchangeLimits } from './exchange.js';
import { MAX_WAITING_HEAD_BYTES, oneAtATime } from './lane.js';
import { ConnectionsPerSource } from './sources.js';
import { ClientCertificates, secureContextOptions, serverTlsOptions } from './tls.js';

export interface ListenerOptions {
  readonly config: FirkinConfig;
  readonly api: Api;
  readonly logger: Logger;
  readonly hooks: ExchangeHooks;
  /** Connections refused for their client certificate (at the handshake or at a request), or for their source's connections, are logged here. */
  readonly refusals: RefusalLog;
  /** In-flight count and bound, response-byte budget, write timeout, draining flag: one set for the process. */
  readonly limits: ExchangeLimits;
  /** Listen here instead of the config's listen_address / listen_port (the admin listener). */
  readonly listen?: { readonly address: string; readonly port: number };
}

export interface RunningListener {
  readonly server: Server;
  /** e.g. http://127.0.0.1:8081 */
  readonly url: string;
  /** Stop accepting, let in-flight requests finish for up to `drainMs`, then drop what is left. */
  close(drainMs?: number): Promise<void>;
  /**
   * Read the TLS certificate, key, CA and revocation list again: new connections use them,
   * open ones are kept (a revoked certificate's are refused from their next request), and
   * sessions from before cannot be resumed. Throws (a TlsFileError) and changes nothing if a file cannot be used.
   */
  reloadTls(): void;
}

/** Limits on the connection itself; request-level limits live in the API. */
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

/**
 * How a request body must keep arriving once asked for: within 3 s it may arrive as it
 * likes; after that, on average at least 16 KiB a second since it was asked for (a 2 KiB
 * session value within 3.1 s, a 1 MiB one within 67 s, the request timeout cutting
 * that to 30 s), else 408 and the connection closed. A byte a second holds nothing for long.
 */
export const BODY_PACE: BodyPace = { graceMs: 3000, minBytesPerSecond: 16 * 1024 };

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

export async function startListener(options: ListenerOptions): Promise<RunningListener> {
  const { config, hooks } = options;
  const maxHeaderSize = requestHeadLimit(config);
  const refusals = options.refusals;
  // Read before anything listens: a file that cannot be used stops the start (check-config reads them the same way).
  const tlsFiles = config.tls === undefined ? undefined : readServerTls(config.tls);
  const certificates =
    config.tls?.ca === undefined
      ? undefined
      : new ClientCertificates(tlsFiles!.revoked, (address, cause, claimed, resumed) => refusals.certificateRefused(address, cause, claimed, resumed));
  const serve = createExchange({
    api: options.api,
    hooks,
    limits: options.limits,
    logger: options.logger,
    admitPeer: certificates === undefined ? undefined : (socket) => certificates.admit(socket as TLSSocket),
  });
  // Pipelined requests wait their turn: a connection's next request is served once the
  // previous response has left (lane.ts). One request of the largest head allowed may always wait.
  const handler = oneAtATime(serve, { maxWaitingHeadBytes: Math.max(MAX_WAITING_HEAD_BYTES, maxHeaderSize) });
  const serverOptions = {
    maxHeaderSize,
    headersTimeout: TIMEOUTS.headersMs,
    requestTimeout: TIMEOUTS.requestMs,
    keepAliveTimeout: TIMEOUTS.keepAliveMs,
    // Enforce the two timeouts above within a second (Node checks every 30 s by default).
    connectionsCheckingInterval: 1000,
    // Host is meaningless to a session store; the API answers every request itself.
    requireHostHeader: false,
  };
  let server: Server;
  if (config.tls) {
    const https = createHttpsServer({ ...serverOptions, ...serverTlsOptions(config.tls, tlsFiles!), handshakeTimeout: TIMEOUTS.handshakeMs }, handler);
    // Every connection's certificate checked once its handshake is done (fresh or resumed), and again at each request.
    certificates?.watch(https);
    // A handshake that failed (the clientError listener below drops its connection): logged
    // at info if it was refused for the client's certificate, else at debug (scanners, timeouts).
    https.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      const cause = err.code ?? 'unknown';
      if (isCertificateError(err.code)) refusals.certificateRefused(socket.remoteAddress, cause, undefined, false);
      else refusals.handshakeFailed(socket.remoteAddress, cause);
    });
    server = https;
  } else {
    server = createHttpServer(serverOptions, handler);
  }
  // Beyond this many connections, new ones are closed at once; beyond this many from one
  // source (address, IPv6 /64), that source's new ones are, before a byte of them is read.
  server.maxConnections = config.maxConnections;
  new ConnectionsPerSource(config.maxConnectionsPerSource, (source) => refusals.connectionRefused(source)).watch(server);
  // A client that half-closes after sending its request (`nc -N`) still gets its answer (base/internals.ts).
  answerHalfClosedClients(server);
  // Without a callback, a socket idle this long is destroyed.
  server.setTimeout(TIMEOUTS.socketIdleMs);
  // `Expect: 100-continue`: the API invites the body itself, only once it has decided to read it.
  server.on('checkContinue', handler);
  // Any other expectation: 417 as a problem document, with every answer's common headers.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => handler(req, res, { ...PROBLEMS.expectationFailed }));

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || socket.destroyed) return socket.destroy();
    // A connection whose client certificate is refused gets no answer, not even to malformed HTTP.
    if (certificates !== undefined && handshakeDone(socket) && certificates.admit(socket as TLSSocket) === undefined) return;
    // A TLS connection whose handshake never completed cannot carry an answer: writing one
    // would wait forever and hold the connection (and a max_connections slot). Drop it.
    if (err.code?.startsWith('ERR_TLS') || err.code?.startsWith('ERR_SSL') || (config.tls && !handshakeDone(socket))) {
      return socket.destroy();
    }
    const refused: ProblemType =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? PROBLEMS.headersTooLarge
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? PROBLEMS.requestTimeout
          : err.code === 'HPE_INVALID_METHOD'
            ? PROBLEMS.methodNotAllowed
            : { ...PROBLEMS.badRequest, detail: 'The request is not valid HTTP/1.1' };
    rawProblem(socket, refused);
    hooks.refusedUnparsed(refused.status);
  });
  // CONNECT never reaches the request handler; refuse it here.
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    rawProblem(socket, { ...PROBLEMS.methodNotAllowed });
    hooks.refusedUnparsed(405);
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
      if (!config.tls) return;
      const files = readServerTls(config.tls); // all read, or none applied
      const https = server as HttpsServer;
      https.setSecureContext(secureContextOptions(files));
      // New ticket keys: a session from before (perhaps of a certificate the new CA would
      // not sign) cannot be resumed; its client makes a full handshake, verified anew.
      https.setTicketKeys(randomBytes(48));
      certificates?.setRevoked(files.revoked);
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

/** Answer on a raw socket (no request object exists) and close it. */
function rawProblem(socket: Socket, refused: ProblemType): void {
  const requestId = randomUUID();
  const body = problemBody(refused, requestId);
  socket.end(
    // The standard reason phrase, as node:http writes it for every other answer.
    `HTTP/1.1 ${refused.status} ${STATUS_CODES[refused.status] ?? refused.title}\r\n` +
      'Content-Type: application/problem+json\r\n' +
      'X-Content-Type-Options: nosniff\r\n' +
      'Cache-Control: no-store\r\n' +
      `X-Request-ID: ${requestId}\r\n` +
      (refused.status === 405 ? `Allow: ${ALLOWED_METHODS}\r\n` : '') +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}
