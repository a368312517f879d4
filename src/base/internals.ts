/**
 * Every place where Firkin relies on a dependency's private internals: an
 * undocumented property, a method missing from the typings, or an internal
 * protocol. Each is a workaround for something the public API cannot do, named
 * here with the version it was written against; test/base/internals.test.ts checks
 * that each dependency still behaves as relied upon, and fails on an upgrade that
 * changes it (and on an upgrade of the pinned versions below, so that someone reads
 * this file again).
 *
 * Only types are imported here: the modules themselves are loaded by their users
 * (the embedded engine's process never loads cassandra-driver, nor the reverse).
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** The versions the workarounds below were written against (package.json pins the same). */
export const RELIED_ON = {
  /** The Node.js release lines whose node:http and node:tls internals were checked. */
  node: [22, 24],
  'cassandra-driver': '4.10.0',
  'prom-client': '15.1.3',
  lmdb: '3.5.6',
  zod: '4.6.7',
} as const;

// ─── node:http and node:net (transport/lane.ts, transport/listener.ts) ─────────

/**
 * Hold a server socket paused. node:http resumes a socket itself after each request
 * it parses and whenever a response's data is sent (lib/_http_server.js), so a plain
 * pause() does not last while pipelined requests wait their turn: while held, the
 * socket's own resume() does nothing.
 */
export function holdPaused(socket: Socket): void {
  socket.pause();
  socket.resume = keepPaused;
}

function keepPaused(this: Socket): Socket {
  return this;
}

/** Undo holdPaused and read on, unless node:http holds the socket paused itself (see pausedByHttp). */
export function releaseHold(socket: Socket): void {
  delete (socket as Partial<Socket>).resume; // the prototype's again
  if (!socket.destroyed && !pausedByHttp(socket)) socket.resume();
}

/**
 * node:http pauses a socket whose responses are not being written out (its write
 * buffer is full) and resumes it on 'drain' (lib/_http_server.js: `socket._paused`).
 */
export function pausedByHttp(socket: Socket): boolean {
  return (socket as Socket & { _paused?: boolean })._paused === true;
}

/**
 * node:tls: whether a server-side TLS socket finished its handshake
 * (`_secureEstablished`; getProtocol() answers null for every server socket).
 */
export function handshakeDone(socket: Socket | TLSSocket): boolean {
  return (socket as Socket & { _secureEstablished?: boolean })._secureEstablished === true;
}

/**
 * node:http: answer a client that half-closed its side after sending its request
 * (shutdown(SHUT_WR), `nc -N`). Node's default abandons the request on the client's
 * FIN; the undocumented `httpAllowHalfOpen` keeps it.
 */
export function answerHalfClosedClients(server: Server): void {
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
}

// ─── cassandra-driver 4.10.0 (storage/cassandra/cassandra-engine.ts, timestamps.ts) ───

/** A driver Host as far as the workarounds below use it (none of it is in the driver's typings). */
interface DriverHost {
  shutdown(waitForPending: boolean): Promise<void>;
  _healthResponseCountTimer?: NodeJS.Timeout | null;
  pool: { connections: unknown[]; clearNewConnectionAttempt(): void; shutdown(): Promise<void> };
}

interface DriverClientInternals {
  controlConnection?: { connection?: { isSocketOpen?: boolean; close(): void } | null };
  hosts?: { values(): unknown[] };
}

/**
 * cassandra-driver 4.10 replaces a Host object on some topology refreshes (after a
 * reconnect) without shutting the old one down, leaking its timers and pool. Called on
 * the client's 'hostRemove': shut it down unless the client still lists it.
 */
export function shutDownReplacedHost(client: object, host: unknown): void {
  queueMicrotask(() => {
    if ((client as DriverClientInternals).hosts?.values().includes(host)) return;
    (host as DriverHost).shutdown(false).catch(() => undefined);
  });
}

/**
 * Races in cassandra-driver 4.10 at shutdown: a control connection that was
 * reconnecting when shutdown() ran can finish opening afterwards, and a host re-added
 * by that late refresh starts its health timer and pool again. Left alone they keep
 * the process alive. For a second after shutdown, close them.
 */
export async function closeDriverLeftovers(client: object): Promise<void> {
  const internals = client as DriverClientInternals;
  for (let i = 0; i < 10; i++) {
    const connection = internals.controlConnection?.connection;
    if (connection?.isSocketOpen) connection.close();
    for (const host of (internals.hosts?.values() ?? []) as DriverHost[]) {
      if (host._healthResponseCountTimer) clearInterval(host._healthResponseCountTimer);
      host._healthResponseCountTimer = null;
      host.pool.clearNewConnectionAttempt();
      if (host.pool.connections.length > 0) await host.pool.shutdown().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The driver's timestamp generator base class: its typings declare an interface only, but the driver checks `instanceof`. */
export function timestampGeneratorBase<T>(driver: { policies: { timestampGeneration: unknown } }): new () => T {
  return (driver.policies.timestampGeneration as { TimestampGenerator: new () => T }).TimestampGenerator;
}

// ─── prom-client 15.1.3 (metrics/series.ts) ─────────────────────────────────

/**
 * Register a metric of Firkin's own (metrics/series.ts) in a prom-client Registry. The
 * Registry takes any object with prom-client's metric protocol: `name`, `help`, `type`,
 * `aggregator`, `get()` answering `{name, help, type, values, aggregator}`, and
 * `reset()`; its typings accept only its own classes.
 */
export function registerCustomMetric(registry: { registerMetric(metric: never): void }, metric: object): void {
  registry.registerMetric(metric as never);
}

// ─── lmdb 3.5.6 (storage/embedded/lmdb-store.ts) ───────────────────────────

/**
 * lmdb-js rejects a failed commit's transaction promise with "Commit failed" and no
 * code, and a second promise (`err.commitError`) with the commit's own error, which
 * carries LMDB's code (EIO for a write the disk refused, EACCES…). Resolves with that
 * error (handled: it cannot surface as an unhandled rejection), or undefined when
 * `err` is not such a failure.
 */
export async function commitFailure(err: unknown): Promise<unknown> {
  const second = (err as { commitError?: Promise<unknown> } | null)?.commitError;
  if (second === undefined || typeof second.then !== 'function') return undefined;
  return second.then(
    () => undefined,
    (cause: unknown) => cause,
  );
}

/**
 * lmdb-js puts LMDB's error number on a failure's `code` (a positive errno, or one of
 * LMDB's own codes, -30799 to -30780); errors from decoding a record (msgpackr) carry none.
 */
export function lmdbCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** LMDB's statistics of a database (lmdb-js's getStats(), typed `{}`; the root's also has `free`, the free-page list's). */
export interface LmdbStats {
  readonly pageSize: number;
  readonly entryCount: number;
  readonly treeBranchPageCount: number;
  readonly treeLeafPageCount: number;
  readonly overflowPages: number;
  readonly free?: LmdbStats;
}

export function lmdbStats(db: { getStats(): unknown }): LmdbStats {
  return db.getStats() as LmdbStats;
}

// ─── zod 4.6.7 (config/messages.ts) ───────────────────────────────────────

/** A check of a number schema: `greater_than` / `less_than` with its bound. */
export interface ZodCheckDef {
  readonly check?: string;
  readonly value?: unknown;
  readonly inclusive?: boolean;
}

/** A schema's definition (`schema._zod.def`: zod 4's introspection for library authors, not a stable API). */
export function zodDefinition(schema: unknown): { type?: string; format?: string; checks?: { _zod: { def: ZodCheckDef } }[] } | undefined {
  return (schema as { _zod?: { def?: { type?: string; format?: string; checks?: { _zod: { def: ZodCheckDef } }[] } } } | undefined)?._zod?.def;
}
