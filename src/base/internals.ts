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

/**
 * lmdb-js answers `undefined` from openDB() for a named database that does not exist in
 * an environment opened read-only (it cannot create it); the typings promise a Database.
 */
export function openExistingDb<D>(root: object, options: { readonly name: string; readonly [option: string]: unknown }): D | undefined {
  return (root as { openDB(options: object): unknown }).openDB(options) as D | undefined;
}

/**
 * LMDB's data file, as the LMDB that lmdb 3.5.6 builds lays it out (its fork of LMDB's
 * mdb.master3 branch, dependencies/lmdb/libraries/liblmdb/mdb.c, built for 64 bits: a
 * page number is 8 bytes). Not an API of either project: storage/embedded/probe.ts reads
 * it to refuse a damaged file before LMDB maps it, as LMDB itself would crash on it.
 *
 * Pages 0 and 1 are meta pages (`MDB_meta`, after the 24-byte page header
 * `MDB_page_header`: pgno u64, txnid u64, pad u16, flags u16, lower/upper u32). LMDB
 * writes the meta page `txnid % 2` at each commit and opens the one with the larger
 * txnid; it checks only page 0's magic and version, and none of the rest.
 * Firkin uses neither lmdb-js's encryption nor its compression, so the pages are LMDB's own.
 */
export const LMDB_LAYOUT = {
  /** `P_META` in `mh_flags`. */
  metaFlag: 0x08,
  /** `MDB_MAGIC`. */
  magic: 0xbeefc0de,
  /** `MDB_DATA_VERSION` (the low 16 bits of `mm_version`). */
  dataVersion: 2,
  /** `P_INVALID`: the root of an empty tree. */
  noPage: 0xffff_ffff_ffff_ffffn,
  /** Bytes of a meta page that hold the header and `MDB_meta`. */
  metaBytes: 168,
  /** `MAX_PAGESIZE`. */
  maxPageSize: 0x10000,
} as const;

/** One meta page as lmdbMeta reads it. */
export interface LmdbMeta {
  /** `mh_flags` of the page header. */
  readonly flags: number;
  readonly magic: number;
  /** `mm_version & 0xffff`. */
  readonly version: number;
  /** `mm_psize` (the free-page tree's `md_pad`). */
  readonly pageSize: number;
  /** Root pages of the free-page tree and of the main tree (which holds the named databases). */
  readonly freeRoot: bigint;
  readonly mainRoot: bigint;
  /** `mm_last_pg`: the last page this snapshot uses; the file holds at least lastPage + 1 pages. */
  readonly lastPage: bigint;
  /** `mm_txnid`: the transaction that wrote this meta page. */
  readonly txnid: bigint;
}

/** The meta page at the start of `page` (at least LMDB_LAYOUT.metaBytes bytes). */
export function lmdbMeta(page: Buffer): LmdbMeta {
  return {
    flags: page.readUInt16LE(18),
    magic: page.readUInt32LE(24),
    version: page.readUInt32LE(28) & 0xffff,
    pageSize: page.readUInt32LE(48), // mm_dbs[0].md_pad, after magic, version, mm_address, mm_mapsize
    freeRoot: page.readBigUInt64LE(48 + 40), // mm_dbs[0].md_root: md_pad u32, flags u16, depth u16, 3 page counts and entries u64
    mainRoot: page.readBigUInt64LE(96 + 40), // mm_dbs[1] (MDB_db is 48 bytes)
    lastPage: page.readBigUInt64LE(144),
    txnid: page.readBigUInt64LE(152),
  };
}

// ─── node:sqlite (storage/embedded/instance-lock.ts) ──────────────────────────

/** An exclusive lock on a file that the kernel releases when the process holding it ends, however it ends. */
export interface FileLock {
  /** Release it now (also done by the kernel when the process exits). */
  release(): void;
}

/**
 * Take an exclusive lock on `file` (created if missing; it must be empty or an SQLite
 * database), or answer undefined at once when another process (or another lock in this
 * one) holds it. Node.js has no flock(); node:sqlite (Node.js 22.13+ without a flag) is
 * SQLite, whose `BEGIN EXCLUSIVE` takes POSIX advisory locks (fcntl F_SETLK) on the file
 * and keeps them until the connection ends: the kernel drops them when the process dies,
 * SIGKILL included, so a lock is never stale. With no busy timeout (node:sqlite's default
 * `timeout: 0`) a second `BEGIN EXCLUSIVE` fails at once with SQLITE_BUSY ("database is
 * locked"). Relied upon: node:sqlite's DatabaseSync and the error's `errcode`.
 */
export function lockFile(file: string): FileLock | undefined {
  const { DatabaseSync } = process.getBuiltinModule('node:sqlite');
  const db = new DatabaseSync(file);
  try {
    // Nothing is ever written: no journal file either (SQLite makes one for an exclusive transaction).
    db.exec('PRAGMA journal_mode = MEMORY; BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    if ((err as { errcode?: unknown }).errcode === SQLITE_BUSY) return undefined;
    throw err;
  }
  let held = true;
  return {
    release: () => {
      if (held) db.close();
      held = false;
    },
  };
}
const SQLITE_BUSY = 5;

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
