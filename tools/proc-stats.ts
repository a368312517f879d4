/** CPU time and resident memory of a process, from /proc (Linux): for benchmarks and soak tests. */
import { readFileSync } from 'node:fs';

export interface ProcessStats {
  /** User plus system CPU time. */
  readonly cpuSeconds: number;
  /** VmRSS: everything resident, including mapped files (LMDB's data file is page cache). */
  readonly rssBytes: number;
  /** RssAnon: heap, buffers and allocator arenas, what a leak grows. */
  readonly anonBytes: number;
}

export function processStats(pid: number): ProcessStats {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100, rssBytes: kb('VmRSS'), anonBytes: kb('RssAnon') };
}
