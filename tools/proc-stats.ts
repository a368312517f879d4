/** CPU time and resident memory of a process, from /proc (Linux): for benchmarks and soak tests. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';

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

/** Children of `pid` (every thread's), from /proc/<pid>/task/<tid>/children, or by scanning /proc/<n>/stat for the parent. */
export function childPids(pid: number): number[] {
  if (existsSync(`/proc/${pid}/task/${pid}/children`)) {
    const children = new Set<number>();
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      return []; // the process is gone
    }
    for (const tid of tids) {
      try {
        for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (c !== '') children.add(Number(c));
      } catch {
        // the thread ended meanwhile
      }
    }
    return [...children].sort((a, b) => a - b);
  }
  // A kernel without CONFIG_PROC_CHILDREN: scan every process for its parent.
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found.sort((a, b) => a - b);
}

/** `pid` and all its descendants. */
export function processTree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...childPids(all[i]!));
  return all;
}

/** Summed VmRSS of `pid` and its descendants (a service with worker processes); processes that exit meanwhile count 0. */
export function treeRssBytes(pid: number): number {
  let sum = 0;
  for (const p of processTree(pid)) {
    try {
      sum += processStats(p).rssBytes;
    } catch {
      // exited between the listing and the read
    }
  }
  return sum;
}
