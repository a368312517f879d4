/**
 * The attack suite's shared harness. Every attack runs against a real `firkin
 * serve` (spawnFirkin) and is judged the same way:
 *   - memory: the summed VmRSS of the whole service (the primary and every
 *     process under it), sampled every 100 ms during the attack; the peak growth
 *     over a baseline taken after a warm-up of a few hundred legitimate requests;
 *   - a legitimate client: every 100 ms one PUT and one GET of its own small key,
 *     each on a fresh connection, from a worker thread (so the attacker's load on
 *     the test's own event loop does not count as the service's latency); each must
 *     get its expected answer (200/201/404; 429 and 503 are failures) within 1 s;
 *   - the service: the same worker processes before and after (none died), no
 *     "a worker died" or "request failed" ERROR line in its log, still running.
 * Checks are collected (Checks) and reported together, after the test has
 * printed its one line of figures, so a failing run still records them.
 *
 * Run: `npx tsc -p . && node --test --test-concurrency=1 dist/test/attacks/*.test.js`
 * (one file at a time, so that no other test's load counts against an attack's
 * latency); each test prints a line starting "figures: attack=".
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { OutgoingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { childPids, processTree } from '../../tools/proc-stats.js';
import type { FirkinProcess } from '../helpers/process.js';
import { rememberKeyOf } from '../helpers/secrets.js';
import { atFileEnd } from '../helpers/tmp.js';
import type { LegitRecord, MonitorInput, MonitorMessage } from './monitor.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
/** Each attack, from its first hostile byte to its last check, within this. */
export const ATTACK_BUDGET_MS = 15_000;
/** node:test's limit per attack test: start-up and warm-up included, with room for a slow machine. */
export const TEST_TIMEOUT_MS = 45_000;
/** A legitimate request answered later than this is a failure. */
export const LEGIT_LATENCY_MS = 1000;
/** Memory a service may grow by for reasons that are not the attack (heap growth, JIT, allocator arenas). */
export const SLACK_BYTES = 64 * MiB;

export const mib = (bytes: number): string => (bytes / MiB).toFixed(1);

// ---- configuration ---------------------------------------------------------

// ---- checks ----------------------------------------------------------------

/** Soft assertions: every failed check is listed when `done()` throws, not only the first. */
export class Checks {
  private readonly failed: string[] = [];

  ok(condition: unknown, what: string): void {
    if (!condition) this.failed.push(what);
  }

  get failures(): readonly string[] {
    return this.failed;
  }

  done(): void {
    if (this.failed.length > 0) assert.fail(`${this.failed.length} check(s) failed:\n  - ${this.failed.join('\n  - ')}`);
  }
}

/** Counts by HTTP status (0: no answer). */
export class StatusCounts {
  private readonly counts = new Map<number, number>();

  add(status: number): void {
    this.counts.set(status, (this.counts.get(status) ?? 0) + 1);
  }

  get(status: number): number {
    return this.counts.get(status) ?? 0;
  }

  get total(): number {
    return [...this.counts.values()].reduce((a, b) => a + b, 0);
  }

  statuses(): number[] {
    return [...this.counts.keys()].sort((a, b) => a - b);
  }

  /** Statuses that are server errors other than 503 and 507 (the two a resisting server may answer). */
  unexpected5xx(): number[] {
    return this.statuses().filter((s) => s >= 500 && s !== 503 && s !== 507);
  }

  toString(): string {
    return this.counts.size === 0 ? 'none' : this.statuses().map((s) => `${s}×${this.get(s)}`).join(' ');
  }
}

/**
 * Counts the HTTP/1.1 status lines in a raw response stream (pipelined answers read
 * off a socket). The bodies must never contain "HTTP/1.1 " (the attacks' values are
 * one repeated letter).
 */
export class StatusScanner {
  private tail = Buffer.alloc(0);
  bytes = 0;

  constructor(readonly counts: StatusCounts) {}

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    const data = this.tail.length === 0 ? chunk : Buffer.concat([this.tail, chunk]);
    let end = 0;
    for (let i = data.indexOf(STATUS_LINE); i !== -1 && i + STATUS_LINE.length + 3 <= data.length; i = data.indexOf(STATUS_LINE, end)) {
      this.counts.add(Number(data.toString('latin1', i + STATUS_LINE.length, i + STATUS_LINE.length + 3)));
      end = i + STATUS_LINE.length + 3;
    }
    // Keep what may be the start of a status line cut by the chunk's end.
    this.tail = Buffer.from(data.subarray(Math.max(end, data.length - STATUS_LINE.length - 2)));
  }
}
const STATUS_LINE = Buffer.from('HTTP/1.1 ');

/** The one line of figures a test prints: `# figures: attack=…; key=value; …`. */
export function figures(attack: string, fields: Record<string, string | number>): void {
  console.log(`figures: attack=${attack}; ${Object.entries(fields).map(([k, v]) => `${k}=${v}`).join('; ')}`);
}

// ---- the monitor: RSS and a legitimate client --------------------------------

export interface LegitOptions {
  /** Namespace path the legitimate key lives under (default /sessions/v1/). */
  readonly basePath?: string;
  readonly headers?: OutgoingHttpHeaders;
  readonly localAddress?: string;
  readonly tls?: { readonly ca: string; readonly cert?: string; readonly key?: string };
  /** Statuses that count as the expected answer (default GET 200/404, PUT 201). */
  readonly expected?: { readonly GET: readonly number[]; readonly PUT: readonly number[] };
  /** Warm-up rounds of one PUT and one GET before the baseline (default 150: 300 requests). */
  readonly warmupRounds?: number;
}

export interface MonitorResult {
  readonly baselineBytes: number;
  readonly peakBytes: number;
  /** Peak over baseline (never negative). */
  readonly growthBytes: number;
  readonly samples: number;
  readonly legit: readonly LegitRecord[];
  readonly legitStatuses: StatusCounts;
  /** Slowest legitimate request, ms (answered or not). */
  readonly worstMs: number;
  /** Legitimate requests without their expected answer within LEGIT_LATENCY_MS. */
  readonly legitFailures: readonly LegitRecord[];
}

export interface Monitor {
  readonly baselineBytes: number;
  /** Stop sampling and the legitimate client; wait for its last requests. */
  stop(): Promise<MonitorResult>;
}

/** Warm the service up, take the RSS baseline, and start sampling and the legitimate client. */
export async function startMonitor(f: FirkinProcess, options: LegitOptions = {}): Promise<Monitor> {
  const keyUrl = `${f.url}${options.basePath ?? '/sessions/v1/'}legit-session-${randomBytes(6).toString('hex')}:0001`;
  rememberKeyOf(keyUrl); // the worker thread's requests join this file's key-in-logs check
  const input: MonitorInput = {
    pid: f.child.pid!,
    keyUrl,
    headers: options.headers ?? {},
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    warmupRounds: options.warmupRounds ?? 150,
    everyMs: 100,
    giveUpMs: 2 * LEGIT_LATENCY_MS,
  };
  const worker = new Worker(new URL('./monitor.js', import.meta.url), { workerData: input });
  worker.unref();
  atFileEnd(() => worker.terminate());
  const messages: MonitorMessage[] = [];
  let wake: (() => void) | undefined;
  let failed: Error | undefined;
  worker.on('message', (m: MonitorMessage) => {
    messages.push(m);
    wake?.();
  });
  worker.on('error', (err) => {
    failed = err;
    wake?.();
  });
  const next = async (type: MonitorMessage['type'], ms: number): Promise<MonitorMessage> => {
    const deadline = Date.now() + ms;
    for (;;) {
      if (failed) throw failed;
      const i = messages.findIndex((m) => m.type === type);
      if (i !== -1) return messages.splice(i, 1)[0]!;
      if (Date.now() > deadline) assert.fail(`the monitor sent no ${type} within ${ms} ms`);
      await Promise.race([new Promise<void>((resolve) => (wake = resolve)), sleep(50)]);
    }
  };
  const ready = (await next('ready', 30_000)) as Extract<MonitorMessage, { type: 'ready' }>;
  assert.equal(ready.warmupFailures, 0, 'every warm-up request was answered');
  const expected = options.expected ?? { GET: [200, 404], PUT: [201] };
  return {
    baselineBytes: ready.baselineBytes,
    stop: async () => {
      worker.postMessage('stop');
      const result = (await next('result', 10_000)) as Extract<MonitorMessage, { type: 'result' }>;
      await worker.terminate();
      const peakBytes = Math.max(...result.samples.map((s) => s.bytes));
      const legitStatuses = new StatusCounts();
      for (const r of result.legit) legitStatuses.add(r.status);
      return {
        baselineBytes: ready.baselineBytes,
        peakBytes,
        growthBytes: Math.max(0, peakBytes - ready.baselineBytes),
        samples: result.samples.length,
        legit: result.legit,
        legitStatuses,
        worstMs: Math.max(0, ...result.legit.map((r) => r.ms)),
        legitFailures: result.legit.filter((r) => !expected[r.method].includes(r.status) || r.ms > LEGIT_LATENCY_MS),
      };
    },
  };
}

/** The legitimate client's checks: something was sent, and every request got its answer in time. */
export function checkLegit(checks: Checks, m: MonitorResult): void {
  checks.ok(m.legit.length >= 4, `the legitimate client sent ${m.legit.length} requests (expected one PUT and one GET every 100 ms)`);
  const show = m.legitFailures
    .slice(0, 5)
    .map((r) => `${r.method} → ${r.status || r.error} in ${r.ms.toFixed(0)} ms at +${r.at.toFixed(0)} ms`)
    .join(', ');
  checks.ok(m.legitFailures.length === 0, `${m.legitFailures.length} of ${m.legit.length} legitimate requests failed or took over ${LEGIT_LATENCY_MS} ms (${show})`);
}

// ---- the service -------------------------------------------------------------

/** The worker processes of a service (none with workers: 1). */
export function workerPids(f: FirkinProcess): number[] {
  return childPids(f.child.pid!);
}

/**
 * TCP connections from `address` (IPv4) that the service's processes have accepted and
 * still hold open now, read from /proc: the sockets among their file descriptors that
 * /proc/net/tcp lists as established with that remote address. A connection the kernel
 * has completed but the service has not accepted yet (in its listen queue, or waiting
 * for a SYN-ACK to be retransmitted after the queue overflowed) looks connected to the
 * client but holds nothing of the service, and is not counted.
 */
export function acceptedFrom(f: FirkinProcess, address: string): number {
  const inodes = new Set<string>();
  for (const pid of processTree(f.child.pid!)) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        // Closed while listed.
      }
    }
  }
  // /proc/net/tcp writes an IPv4 address as 8 hex digits, least significant byte first.
  const hex = address.split('.').map((o) => Number(o).toString(16).toUpperCase().padStart(2, '0')).reverse().join('');
  // A set: /proc/net/tcp is read a page at a time while connections come and go, so one
  // socket may be listed twice.
  const held = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'latin1').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    if (cols.length > 9 && cols[2]!.startsWith(`${hex}:`) && cols[3] === '01' && inodes.has(cols[9]!)) held.add(cols[9]!);
  }
  return held.size;
}

/** Parsed log lines (stdout); lines that are not JSON are skipped. */
export function logLines(f: FirkinProcess): Record<string, unknown>[] {
  return f.stdout.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/** The service survived: running, the same workers as `workersBefore`, no worker died, no request failed with an error. */
export function checkService(checks: Checks, f: FirkinProcess, workersBefore: readonly number[]): void {
  checks.ok(f.child.exitCode === null && f.child.signalCode === null, `the service is still running (exit ${f.child.exitCode ?? f.child.signalCode})`);
  const after = workerPids(f);
  checks.ok(
    after.length === workersBefore.length && after.every((p, i) => p === workersBefore[i]),
    `the same worker processes before and after the attack (before ${workersBefore.join(',') || 'none'}, after ${after.join(',') || 'none'})`,
  );
  const lines = logLines(f);
  const died = lines.filter((l) => typeof l.msg === 'string' && /a worker died/.test(l.msg));
  checks.ok(died.length === 0, `${died.length} "a worker died" log line(s)`);
  const failed = lines.filter((l) => l.level === 'ERROR' && typeof l.msg === 'string' && /request failed/.test(l.msg));
  const first = failed[0]?.err as { message?: string } | undefined;
  checks.ok(failed.length === 0, `${failed.length} "request failed" ERROR line(s)${first ? ` (first: ${first.message})` : ''}`);
}

/** SIGKILL the service and every process under it (ours, by pid), and wait for it. */
export async function killService(f: FirkinProcess): Promise<void> {
  if (f.child.exitCode !== null || f.child.signalCode !== null) return;
  const tree = processTree(f.child.pid!);
  for (const pid of tree.reverse()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await f.exited;
}

/** The worker count of each attack that runs with one process and with two. */
export const WORKER_COUNTS = [1, 2] as const;

// ---- files ---------------------------------------------------------------------

/** Every file and directory under `dir` (not `dir` itself), with its mode bits and sizes. */
export function walk(dir: string): { path: string; mode: number; isDir: boolean; bytes: number; allocated: number }[] {
  const out: { path: string; mode: number; isDir: boolean; bytes: number; allocated: number }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    let s;
    try {
      s = lstatSync(path);
    } catch {
      continue; // removed meanwhile
    }
    out.push({ path, mode: s.mode & 0o7777, isDir: s.isDirectory(), bytes: s.size, allocated: s.blocks * 512 });
    if (s.isDirectory()) out.push(...walk(path));
  }
  return out;
}

/** Apparent and allocated bytes of everything under `dir`. */
export function dirSize(dir: string): { bytes: number; allocated: number } {
  let bytes = 0;
  let allocated = 0;
  for (const f of walk(dir)) {
    if (f.isDir) continue;
    bytes += f.bytes;
    allocated += f.allocated;
  }
  return { bytes, allocated };
}
