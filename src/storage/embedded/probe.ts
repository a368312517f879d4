/**
 * The start-up probe of the embedded store: a damaged file is refused before the service
 * maps it, with one line naming the file and what is wrong, instead of a crash.
 *
 * LMDB trusts its file: damage that reaches a meta page or a page on the path to a
 * database makes it read through wild page numbers, and the process dies of SIGSEGV or
 * SIGBUS with nothing said; a 0-byte file it takes for a new store. So, in two steps:
 *
 * 1. In this process, without LMDB (`checkDataFile`): the file's size (0 bytes, or too
 *    short for its two meta pages, is refused), and both meta pages (LMDB's page flag,
 *    magic and data version, the page size, the roots of the main and free-page trees
 *    within the file, and a file as long as the newest snapshot says it is: LMDB checks
 *    only page 0's magic and version, base/internals.ts).
 * 2. In a child process (probe-child.ts), LMDB itself: it opens the store read-only,
 *    reads the format marker and walks to the first and the last entry of every database
 *    (`edges`), or reads and checks every record (`deep`, for `firkin store check`). If
 *    LMDB crashes on the file, the child dies, not the service: the signal is the answer.
 *
 * A file that does not exist yet is a new store: nothing to probe.
 */
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LMDB_LAYOUT, lmdbMeta, type LmdbMeta } from '../../base/internals.js';
import { DATA_FILE } from './files.js';
import type { NamespaceCheck } from './lmdb-engine.js';

/** The exit code of `firkin serve` and `firkin store check` for a store that cannot be used as it is. */
export const EXIT_STORE_UNUSABLE = 3;

/** How long the child may take (a store on a slow or busy disk): longer is reported, not taken for damage. */
const PROBE_TIMEOUT_MS = 30_000;

/**
 * The store cannot be used as it is: `damaged` (the file), or `unusable` (it is not a
 * store this Firkin reads, e.g. a newer format). `reason` says what, in words for one line.
 */
export class StoreRefused extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`the embedded store ${file} cannot be used: ${reason}`);
    this.name = 'StoreRefused';
  }
}

/** What the meta pages say of a file LMDB wrote. */
export interface DataFileFacts {
  readonly bytes: number;
  readonly pageSize: number;
  /** Pages the newest snapshot uses. */
  readonly pages: number;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Why a meta page is not one LMDB wrote, or undefined if it is. */
function metaProblem(meta: LmdbMeta, pageSize: number): string | undefined {
  if ((meta.flags & LMDB_LAYOUT.metaFlag) === 0) return `it is not marked a meta page (flags ${hex(meta.flags)})`;
  if (meta.magic !== LMDB_LAYOUT.magic) return `its magic number is ${hex(meta.magic)}, not LMDB's ${hex(LMDB_LAYOUT.magic)}`;
  if (meta.version !== LMDB_LAYOUT.dataVersion) return `it says data version ${meta.version}, not ${LMDB_LAYOUT.dataVersion}`;
  if (meta.pageSize !== pageSize) return `it says page size ${meta.pageSize}, page 0 says ${pageSize}`;
  if (meta.lastPage < 1n) return `its last page is ${meta.lastPage}`;
  for (const [tree, root] of [
    ['main', meta.mainRoot],
    ['free-page', meta.freeRoot],
  ] as const) {
    if (root !== LMDB_LAYOUT.noPage && (root < 2n || root > meta.lastPage)) return `the root of its ${tree} tree is page ${root}, outside pages 2–${meta.lastPage}`;
  }
  return undefined;
}

/**
 * Step 1: the checks that need no LMDB. Undefined when the file does not exist (a new
 * store); the facts of a file that passes; a StoreRefused for one that does not.
 */
export function checkDataFile(file: string): DataFileFacts | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const bytes = fstatSync(fd).size;
    if (bytes === 0) return refuse(file, 'it is empty (0 bytes): whatever it held is gone');
    const read = (offset: number): Buffer => {
      const page = Buffer.alloc(LMDB_LAYOUT.metaBytes);
      const got = readSync(fd, page, 0, page.length, offset);
      if (got === page.length) return page;
      return refuse(file, `it is ${bytes} bytes long, too short for LMDB's two meta pages: not an LMDB data file, or truncated`);
    };
    const first = lmdbMeta(read(0));
    const { pageSize } = first;
    if (first.magic !== LMDB_LAYOUT.magic || (first.flags & LMDB_LAYOUT.metaFlag) === 0) {
      return refuse(file, `it is not an LMDB data file (page 0: ${metaProblem(first, pageSize)}), or its first page is damaged`);
    }
    if (pageSize < 512 || pageSize > LMDB_LAYOUT.maxPageSize || (pageSize & (pageSize - 1)) !== 0) {
      return refuse(file, `meta page 0 is damaged: it says page size ${pageSize}`);
    }
    if (bytes < 2 * pageSize) return refuse(file, `it is truncated: ${bytes} bytes, less than its two meta pages of ${pageSize} bytes`);
    const metas = [first, lmdbMeta(read(pageSize))];
    metas.forEach((meta, page) => {
      const problem = metaProblem(meta, pageSize);
      if (problem !== undefined) refuse(file, `meta page ${page} is damaged: ${problem}`);
    });
    // LMDB opens the newer snapshot (page 0 on a tie), whose pages must all be in the file.
    const newest = metas[1]!.txnid > metas[0]!.txnid ? metas[1]! : metas[0]!;
    const pages = Number(newest.lastPage) + 1;
    if (bytes < pages * pageSize) {
      return refuse(file, `it is truncated: ${bytes} bytes, but its last transaction uses ${pages} pages of ${pageSize} bytes (${pages * pageSize})`);
    }
    return { bytes, pageSize, pages };
  } finally {
    closeSync(fd);
  }
}

function refuse(file: string, reason: string): never {
  throw new StoreRefused(file, reason);
}

/** What the child reports (probe-child.ts). */
export type ChildReport =
  | { readonly ok: true; readonly format: number | undefined; readonly legacy: boolean; readonly namespaces: readonly string[]; readonly checks?: readonly NamespaceCheck[] }
  | { readonly ok: false; readonly code: number | undefined; readonly message: string };

/** What a probe found in a store that can be used. */
export interface ProbeReport {
  /** The data file. */
  readonly file: string;
  /** No data file yet: a new store. */
  readonly fresh: boolean;
  readonly facts?: DataFileFacts;
  readonly format?: number | undefined;
  readonly legacy?: boolean;
  readonly namespaces?: readonly string[];
  /** With `deep`: every namespace's records, checked. */
  readonly checks?: readonly NamespaceCheck[];
  /** Time taken (ms). */
  readonly ms: number;
}

/** LMDB's codes for a damaged or foreign file (storage/embedded/errors.ts). */
const DAMAGE_CODES = new Map([
  [-30797, 'MDB_PAGE_NOTFOUND'],
  [-30796, 'MDB_CORRUPTED'],
  [-30795, 'MDB_PANIC'],
  [-30794, 'MDB_VERSION_MISMATCH'],
  [-30793, 'MDB_INVALID'],
  [-30784, 'MDB_INCOMPATIBLE'],
]);

/**
 * Probe the store in `dir`: step 1, then step 2 in a child process (`deep`: every record
 * read and checked). Resolves with what it found; rejects with a StoreRefused for a store
 * that cannot be used, or another Error for a probe that could not run (the file cannot
 * be read, the child timed out): not evidence of damage.
 */
export async function probeStore(dir: string, { deep = false, timeoutMs = PROBE_TIMEOUT_MS } = {}): Promise<ProbeReport> {
  const started = performance.now();
  dir = resolve(dir);
  const file = join(dir, DATA_FILE);
  const facts = checkDataFile(file);
  if (facts === undefined) return { file, fresh: true, ms: performance.now() - started };
  const child = await runChild(dir, deep ? 'deep' : 'edges', timeoutMs);
  if (child.signal !== null) {
    if (child.signal === 'SIGKILL' || child.signal === 'SIGTERM') {
      throw new Error(`the probe of the embedded store ${file} was killed (${child.signal})${child.timedOut ? ` after ${timeoutMs} ms` : ''}`);
    }
    refuse(file, `LMDB crashed reading it (${child.signal}): its pages are damaged`);
  }
  const report = child.report;
  if (report === undefined) throw new Error(`the probe of the embedded store ${file} failed (exit ${child.code}): ${child.stderr.trim().split('\n').at(-1) ?? ''}`);
  if (!report.ok) {
    const name = report.code === undefined ? undefined : DAMAGE_CODES.get(report.code);
    if (name !== undefined) refuse(file, `LMDB reports it damaged (${name}: ${report.message})`);
    if (/format|not a store Firkin wrote/.test(report.message)) refuse(file, report.message);
    throw new Error(`the probe of the embedded store ${file} failed: ${report.message}`);
  }
  return {
    file,
    fresh: false,
    facts,
    format: report.format,
    legacy: report.legacy,
    namespaces: report.namespaces,
    ...(report.checks === undefined ? {} : { checks: report.checks }),
    ms: performance.now() - started,
  };
}

interface ChildOutcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly report: ChildReport | undefined;
  readonly stderr: string;
}

const CHILD = fileURLToPath(new URL('./probe-child.js', import.meta.url));

function runChild(dir: string, mode: 'edges' | 'deep', timeoutMs: number): Promise<ChildOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, mode, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-4096)));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let report: ChildReport | undefined;
      try {
        report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as ChildReport;
      } catch {
        report = undefined;
      }
      resolve({ code, signal, timedOut, report: signal === null ? report : undefined, stderr });
    });
  });
}
