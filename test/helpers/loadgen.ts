/**
 * The benchmarks' load generator (benchmarks/loadgen, Go standard library), for tests
 * that need more load than a Node.js client beside the server can offer: run as a child
 * process (tools/loadgen builds it), its JSON result parsed.
 */
import { execFile } from 'node:child_process';
import { loadgenBinary } from '../../tools/loadgen.js';
import { rememberKeyOf } from './secrets.js';

export interface LoadgenResult {
  readonly mode: 'open' | 'closed';
  readonly requests: number;
  readonly errors: number;
  readonly statuses: Record<string, number>;
  readonly seconds: number;
  readonly rps: number;
  readonly latency_ms: Record<'p50' | 'p90' | 'p99' | 'p999' | 'max', number>;
  /** Open loop: scheduled requests never sent because the run fell more than 5 s behind its schedule. */
  readonly missed: number;
  /** verify workload: keys read back after the run, and those not holding their last acknowledged write. */
  readonly verified?: number;
  readonly lost?: number;
  readonly failures?: string[];
}

export interface LoadgenRun {
  /** Namespace base URL, ending in '/'. */
  readonly base: string;
  readonly workload: 'get' | 'post' | 'mixed' | 'verify';
  readonly connections: number;
  /** Requests per second; 0 for a closed loop. */
  readonly rate: number;
  readonly seconds: number;
  readonly keys: number;
  readonly prefix: string;
  /** Aborts the run (the test failed meanwhile). */
  readonly signal?: AbortSignal;
}

/** The keys the load generator uses for `prefix` (its formula), so the key-in-logs check knows them. */
export function loadgenKeys(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${((BigInt(i) * 0x9e3779b97f4a7c15n) % 2n ** 64n).toString(16).padStart(32, '0')}`);
}

export async function runLoadgen(run: LoadgenRun): Promise<LoadgenResult> {
  for (const key of loadgenKeys(run.prefix, run.keys)) rememberKeyOf(run.base + key);
  const args = [
    ...['-url', run.base, '-workload', run.workload, '-c', String(run.connections), '-rate', String(run.rate)],
    ...['-d', `${run.seconds}s`, '-warmup', '0s', '-keys', String(run.keys), '-prefix', run.prefix],
  ];
  // The run stops sending 5 s after its schedule ends; the read-back of 20 000 keys takes seconds.
  const timeout = (run.seconds + 120) * 1000;
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(loadgenBinary(), args, { maxBuffer: 1 << 20, timeout, signal: run.signal }, (err, out) => (err ? reject(err) : resolve(out))),
  );
  return JSON.parse(stdout) as LoadgenResult;
}
