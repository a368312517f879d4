// What the benchmark scripts share (run.mjs, ab.mjs, profile.mjs): starting servers that
// print a JSON line with their URL, running the Go load generator, and reading a process
// tree's CPU time and memory from /proc over the measured window only.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * What the benchmark scripts take from the build (`npm run build`): the single Cassandra
 * test node's controls (dist/tools/cassandra/node.js), the load generator's binary (built
 * on first use) and the V8 flags Firkin's processes start with.
 */
export async function fromBuild() {
  const cassandra = await import(join(root, 'dist/tools/cassandra/node.js'));
  const { loadgenBinary } = await import(join(root, 'dist/tools/loadgen.js'));
  const { V8_FLAGS } = await import(join(root, 'dist/src/runtime-flags.js'));
  return { cassandra, loadgen: loadgenBinary(), V8_FLAGS };
}
const { processStats, processTree } = await import(join(root, 'dist/tools/proc-stats.js'));

/** Child processes to kill when this one exits. */
export const children = [];
process.on('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));

/**
 * Run a program printing JSON lines; resolves with the last one that is not a phase marker.
 * `onLine(parsed, child)` sees every line as it arrives.
 */
export function spawnJson(cmd, args, onLine = () => {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let partial = '';
    let last;
    child.stdout.on('data', (chunk) => {
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop();
      for (const line of lines.filter((l) => l.trim())) {
        let parsed;
        try {
          parsed = JSON.parse(line);
        } catch {
          process.stderr.write(`${line}\n`); // not ours: shown, not fatal
          continue;
        }
        onLine(parsed, child);
        if (!parsed.phase) last = parsed;
      }
    });
    child.on('close', (code) => (code === 0 && last ? resolve(last) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

/** Start a server process and wait for the JSON line from which `urlOf` gets its URL. */
export function startServer(name, cmd, args, urlOf = (line) => line.url) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let partial = '';
    child.stdout.on('data', (chunk) => {
      partial += chunk;
      for (const line of partial.split('\n').slice(0, -1)) {
        let parsed;
        try {
          parsed = JSON.parse(line);
        } catch {
          continue; // not a log line of ours
        }
        const url = urlOf(parsed);
        if (url) resolve({ name, child, url });
        // What a server says above info (a worker lost, a storage error) shows in the bench's output.
        else if (typeof parsed.level === 'string' && !['INFO', 'DEBUG'].includes(parsed.level)) process.stderr.write(`bench: ${name}: ${line.slice(0, 400)}\n`);
      }
      partial = partial.slice(partial.lastIndexOf('\n') + 1);
    });
    child.on('exit', (code) => reject(new Error(`${name} exited ${code}`)));
  });
}

export function procStats(pid) {
  const { cpuSeconds, rssBytes, anonBytes } = processStats(pid);
  return { cpuSeconds, rssMb: rssBytes / 2 ** 20, anonMb: anonBytes / 2 ** 20 };
}

/** CPU and memory of a server process and every descendant (Firkin's workers), by pid. */
export function treeSample(pid) {
  const byPid = new Map();
  for (const p of processTree(pid)) {
    try {
      byPid.set(p, procStats(p));
    } catch {
      // exited between the listing and the read
    }
  }
  return byPid;
}

/**
 * CPU seconds the tree spent between two samples: per process, so a worker that started
 * meanwhile counts from zero and one that exited does not subtract (its last moments are
 * lost: workers do not come and go during a run).
 */
export function treeCpuSeconds(before, after) {
  let sum = 0;
  for (const [pid, s] of after) sum += s.cpuSeconds - (before.get(pid)?.cpuSeconds ?? 0);
  return sum;
}

export const sumOf = (tree, field) => [...tree.values()].reduce((a, s) => a + s[field], 0);

/**
 * One load-generator run against `url` (a namespace's base URL, or the fixed URL), with
 * the server tree's CPU (and the JVM's, given its pid) sampled over the measured window
 * only: from the generator's {"phase":"measure"} line (after the warm-up) to its result.
 */
export async function loadRun({ loadgen, url, pid, jvm, workload, clients, rate, seconds, warmup, plain }) {
  let first;
  let last;
  const onLine = (line) => {
    const sample = { at: performance.now(), tree: treeSample(pid), jvm: jvm ? procStats(jvm) : undefined };
    if (line.phase === 'measure') first = sample;
    else last = sample;
  };
  const args = ['-url', url, '-workload', workload, '-c', String(clients), '-rate', String(rate), '-d', `${seconds}s`, '-warmup', `${warmup}s`, '-phases'];
  // Kask, and Firkin's plain namespace, have no conditional writes: the mixed workload's adds go as plain POSTs.
  if (plain) args.push('-conditional=false');
  const result = await spawnJson(loadgen, args, onLine);
  return withCpu(result, first, last);
}

/** `result` with the server's (and JVM's) CPU and memory between samples `first` and `last`. */
export function withCpu(result, first, last) {
  const wall = (last.at - first.at) / 1000;
  const perThousand = (cpuSeconds) => (result.requests > 0 ? (cpuSeconds / result.requests) * 1e6 : null);
  const cpu = treeCpuSeconds(first.tree, last.tree);
  result.server = {
    cpu_percent: (cpu / wall) * 100,
    cpu_ms_per_1k_requests: perThousand(cpu),
    rss_mb: sumOf(last.tree, 'rssMb'),
    rss_anon_mb: sumOf(last.tree, 'anonMb'),
    processes: last.tree.size,
  };
  if (first.jvm) {
    const jvmCpu = last.jvm.cpuSeconds - first.jvm.cpuSeconds;
    result.cassandra_cpu_percent = (jvmCpu / wall) * 100;
    result.cassandra_cpu_ms_per_1k_requests = perThousand(jvmCpu);
  }
  return result;
}

export const median = (xs) => {
  const s = xs.filter((x) => x !== null && x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
