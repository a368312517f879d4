#!/usr/bin/env node
// `npm run bench`: Firkin's benchmark harness. See docs/benchmarks.md.
//
// Scenarios, run alternately in one invocation (this machine is shared and noisy:
// compare ratios, not absolute figures):
//   bare       node:http answering a fixed 1 KiB body: the ceiling for any Node.js service here
//   embedded   Firkin on the embedded LMDB engine
//   cassandra  Firkin on a single-node Cassandra
//   driver     the same Cassandra queries through cassandra-driver, without HTTP
// For each scenario and workload: the maximum throughput (closed loop), then latency
// open loop at 50 %, 75 % and 90 % of it, after a warm-up. The load comes from
// benchmarks/loadgen (Go, standard library), never pipelined.
//
// Environment: BENCH_SECONDS (measured seconds per run, default 8), BENCH_WORKERS
// (Firkin's `workers`, default: the config default), BENCH_ONLY (comma-separated scenarios).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runOnPrimaryNode } from '../scripts/node-runtime.mjs';

// Measured on Node.js 24, the primary runtime (fetched when this `node` is older).
await runOnPrimaryNode(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const here = join(root, 'benchmarks');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ONLY = process.env.BENCH_ONLY?.split(',');
const KEYSPACE = 'firkin_bench';
const LOADS = [0.5, 0.75, 0.9];
const started = Date.now();

const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

const { SINGLE, startNode, isRunning, stopNode, nodePid } = await import(join(root, 'dist/tools/cassandra/node.js'));
const { loadgenBinary } = await import(join(root, 'dist/tools/loadgen.js'));
const { processStats } = await import(join(root, 'dist/tools/proc-stats.js'));
const loadgen = loadgenBinary();
const children = [];
process.on('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));

function spawnJson(cmd, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...options });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

/** Start a server process and wait for the first JSON line naming its URL. */
function startServer(name, cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let partial = '';
    child.stdout.on('data', (chunk) => {
      partial += chunk;
      for (const line of partial.split('\n').slice(0, -1)) {
        const parsed = JSON.parse(line);
        if (parsed.url) resolve({ name, child, url: parsed.url });
      }
      partial = partial.slice(partial.lastIndexOf('\n') + 1);
    });
    child.on('exit', (code) => reject(new Error(`${name} exited ${code}`)));
  });
}

function procStats(pid) {
  const { cpuSeconds, rssBytes, anonBytes } = processStats(pid);
  return { cpuSeconds, rssMb: rssBytes / 2 ** 20, anonMb: anonBytes / 2 ** 20 };
}

/** CPU and memory of a server process and its children (Firkin's workers). */
function treeStats(pid) {
  const pids = [pid];
  try {
    for (const line of execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n')) if (line) pids.push(Number(line));
  } catch {
    // no children
  }
  return pids.map(procStats).reduce((a, b) => ({ cpuSeconds: a.cpuSeconds + b.cpuSeconds, rssMb: a.rssMb + b.rssMb, anonMb: a.anonMb + b.anonMb }));
}

async function load(server, workload, rate, seconds, warmup) {
  const before = server.child ? treeStats(server.child.pid) : undefined;
  const jvm = ['cassandra', 'driver'].includes(server.name) ? nodePid(SINGLE) : undefined;
  const jvmBefore = jvm ? procStats(jvm) : undefined;
  const t0 = Date.now();
  let result;
  if (server.name === 'driver') {
    result = await spawnJson(process.execPath, [join(here, 'driver-bench.mjs'), KEYSPACE, 'sessions', workload, rate > 0 ? '128' : '32', String(rate), String(seconds), String(warmup)]);
  } else {
    const url = workload === 'fixed' ? `${server.url}/` : `${server.url}/sessions/v1/`;
    result = await spawnJson(loadgen, ['-url', url, '-workload', workload, '-c', rate > 0 ? '64' : '32', '-rate', String(rate), '-d', `${seconds}s`, '-warmup', `${warmup}s`]);
    if (result.missed > 0) log(`${server.name} ${workload} at ${rate} req/s fell behind: ${result.missed} scheduled requests not sent`);
  }
  if (before) {
    const after = treeStats(server.child.pid);
    result.server = {
      cpu_percent: ((after.cpuSeconds - before.cpuSeconds) / ((Date.now() - t0) / 1000)) * 100,
      rss_mb: after.rssMb,
      rss_anon_mb: after.anonMb,
    };
  }
  if (jvmBefore) {
    const after = procStats(jvm);
    result.cassandra_cpu_percent = ((after.cpuSeconds - jvmBefore.cpuSeconds) / ((Date.now() - t0) / 1000)) * 100;
  }
  return result;
}

// --- set up -----------------------------------------------------------------------------
const wanted = (s) => !ONLY || ONLY.includes(s);
const needCassandra = wanted('cassandra') || wanted('driver');
let startedCassandra = false;
const dir = mkdtempSync(join(tmpdir(), 'firkin-bench-'));
const servers = {};
try {
  if (needCassandra) {
    startedCassandra = !isRunning(SINGLE);
    log('starting Cassandra (single node)…');
    await startNode(SINGLE);
    const cfg = join(dir, 'schema.yaml');
    writeFileSync(cfg, `storage: cassandra\ncassandra: {hosts: [127.0.0.1], keyspace: ${KEYSPACE}}\nnamespaces: [{name: sessions, base_uri: /sessions/v1/, table: sessions}]\n`);
    execFileSync(process.execPath, [join(root, 'bin/firkin.js'), 'schema', '--apply', '--config', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const workers = process.env.BENCH_WORKERS ? `workers: ${process.env.BENCH_WORKERS}\n` : '';
  if (wanted('bare')) servers.bare = await startServer('bare', process.execPath, [join(here, 'bare-server.mjs')]);
  if (wanted('embedded')) servers.embedded = await firkinUrl('embedded', `embedded: {path: ${join(dir, 'data')}}\n`);
  if (wanted('cassandra')) {
    servers.cassandra = await firkinUrl(
      'cassandra',
      // The mixed workload sends conditional adds, which a Cassandra namespace serves only with
      // conditional_writes (every write and delete then through Paxos: docs/cassandra.md).
      `storage: cassandra\ncassandra: {hosts: [127.0.0.1], keyspace: ${KEYSPACE}}\nnamespaces: [{name: sessions, base_uri: /sessions/v1/, table: sessions, conditional_writes: true}]\n`,
    );
  }
  if (wanted('driver')) servers.driver = { name: 'driver' };

  async function firkinUrl(name, yaml) {
    // Firkin's "listening" line (info level) names its URL; requests are not logged at info.
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `listen_port: 0\nlog_level: info\n${workers}${yaml}`);
    return startServer(name, process.execPath, [join(root, 'bin/firkin.js'), 'serve', '--config', file]);
  }

  for (const name of ['embedded', 'cassandra']) {
    if (!servers[name]) continue;
    log(`prefilling ${name} with 20000 sessions…`);
    const prefill = await spawnJson(loadgen, ['-url', `${servers[name].url}/sessions/v1/`, '-workload', 'prefill', '-c', '32']);
    if (prefill.failed > 0) throw new Error(`prefilling ${name}: ${prefill.failed} of ${prefill.prefilled} writes failed`);
  }

  // Let Cassandra finish flushing and compacting the prefill before measuring anything on it.
  const jvmPid = needCassandra ? nodePid(SINGLE) : undefined;
  if (jvmPid) {
    const deadline = Date.now() + 90_000;
    let last = procStats(jvmPid).cpuSeconds;
    for (;;) {
      await new Promise((r) => setTimeout(r, 2000));
      const now = procStats(jvmPid).cpuSeconds;
      const busy = ((now - last) / 2) * 100;
      last = now;
      if (busy < 10 || Date.now() > deadline) {
        log(`Cassandra settled (${busy.toFixed(0)} % CPU)`);
        break;
      }
    }
  }

  // --- measure, alternating scenarios ----------------------------------------------------
  const plan = [
    ['bare', 'fixed'], ['embedded', 'get'], ['cassandra', 'get'], ['driver', 'get'],
    ['embedded', 'mixed'], ['cassandra', 'mixed'], ['driver', 'mixed'],
    ['embedded', 'post'], ['cassandra', 'post'],
  ].filter(([s]) => servers[s]);
  const results = [];
  for (const [scenario, workload] of plan) {
    const server = servers[scenario];
    log(`${scenario} ${workload}: maximum throughput (closed loop, ${SECONDS} s)…`);
    const max = await load(server, workload, 0, SECONDS, 2);
    const runs = [{ load: 'max', ...max }];
    for (const fraction of LOADS) {
      const rate = Math.max(1, Math.round(max.rps * fraction));
      log(`${scenario} ${workload}: ${fraction * 100} % = ${rate} req/s (open loop, ${SECONDS} s)…`);
      runs.push({ load: fraction, ...(await load(server, workload, rate, SECONDS, 1)) });
    }
    results.push({ scenario, workload, runs });
  }

  // --- report -----------------------------------------------------------------------------
  const rows = [['scenario', 'workload', 'load', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'errors', 'CPU %', 'RSS MB', 'anon MB', 'JVM CPU %']];
  for (const r of results) {
    for (const run of r.runs) {
      rows.push([
        r.scenario, r.workload, run.load === 'max' ? 'max' : `${run.load * 100}%`, run.rps.toFixed(0),
        run.latency_ms.p50.toFixed(3), run.latency_ms.p99.toFixed(3), run.latency_ms.p999.toFixed(3), run.latency_ms.max.toFixed(1),
        String(run.errors), run.server ? run.server.cpu_percent.toFixed(0) : '-', run.server ? run.server.rss_mb.toFixed(0) : '-',
        run.server?.rss_anon_mb !== undefined ? run.server.rss_anon_mb.toFixed(0) : '-',
        run.cassandra_cpu_percent !== undefined ? run.cassandra_cpu_percent.toFixed(0) : '-',
      ]);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const table = rows.map((row) => row.map((c, i) => c.padStart(widths[i])).join('  ')).join('\n');
  process.stdout.write(`${table}\n`);

  const max = (s, w) => results.find((r) => r.scenario === s && r.workload === w)?.runs[0];
  const at = (s, w, l) => results.find((r) => r.scenario === s && r.workload === w)?.runs.find((run) => run.load === l);
  const targets = {
    embedded_get_vs_bare: max('embedded', 'get') && max('bare', 'fixed') ? max('embedded', 'get').rps / max('bare', 'fixed').rps : null,
    embedded_get_p99_at_50_ms: at('embedded', 'get', 0.5)?.latency_ms.p99 ?? null,
    cassandra_http_overhead_p50_ms: at('cassandra', 'get', 0.5) && at('driver', 'get', 0.5) ? at('cassandra', 'get', 0.5).latency_ms.p50 - at('driver', 'get', 0.5).latency_ms.p50 : null,
    cassandra_get_p99_at_50_ms: at('cassandra', 'get', 0.5)?.latency_ms.p99 ?? null,
    embedded_mixed_rss_mb: Math.max(...(results.find((r) => r.scenario === 'embedded' && r.workload === 'mixed')?.runs ?? []).map((run) => run.server?.rss_mb ?? 0)),
    embedded_mixed_rss_anon_mb: Math.max(...(results.find((r) => r.scenario === 'embedded' && r.workload === 'mixed')?.runs ?? []).map((run) => run.server?.rss_anon_mb ?? 0)),
  };
  process.stdout.write(`\ntargets: ${JSON.stringify(targets, null, 2)}\n`);

  const out = join(here, 'results');
  mkdirSync(out, { recursive: true });
  const meta = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu_model: cpus()[0]?.model, seconds_per_run: SECONDS, workers: process.env.BENCH_WORKERS ?? 'default', wall_seconds: (Date.now() - started) / 1000 };
  writeFileSync(join(out, 'latest.json'), `${JSON.stringify({ meta, targets, results }, null, 2)}\n`);
  writeFileSync(join(out, 'latency.svg'), chart(results));
  log(`done in ${meta.wall_seconds.toFixed(0)} s: benchmarks/results/latest.json, benchmarks/results/latency.svg`);
} finally {
  for (const s of Object.values(servers)) s.child?.kill('SIGTERM');
  if (startedCassandra) await stopNode(SINGLE);
  rmSync(dir, { recursive: true, force: true });
}

/** Latency percentiles (p50 dashed, p99 solid) against offered load, one panel per workload. */
function chart(results) {
  const workloads = [...new Set(results.map((r) => r.workload))];
  const colors = { bare: '#7f7f7f', embedded: '#1f77b4', cassandra: '#d62728', driver: '#2ca02c' };
  const W = 360, H = 260, M = { l: 50, r: 10, t: 30, b: 40 };
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W * workloads.length}" height="${H + 30}" font-family="sans-serif" font-size="11">`;
  workloads.forEach((w, i) => {
    const x0 = i * W;
    const series = results.filter((r) => r.workload === w);
    const points = series.flatMap((r) => r.runs.filter((run) => run.load !== 'max').map((run) => run.latency_ms.p99));
    const yMax = Math.max(1, ...points) * 1.1;
    const px = (load) => x0 + M.l + ((load - 0.45) / 0.5) * (W - M.l - M.r);
    const py = (ms) => M.t + (1 - ms / yMax) * (H - M.t - M.b);
    svg += `<text x="${x0 + W / 2}" y="16" text-anchor="middle" font-weight="bold">${w}: latency vs offered load</text>`;
    svg += `<line x1="${x0 + M.l}" y1="${py(0)}" x2="${x0 + W - M.r}" y2="${py(0)}" stroke="black"/><line x1="${x0 + M.l}" y1="${M.t}" x2="${x0 + M.l}" y2="${py(0)}" stroke="black"/>`;
    for (const load of LOADS) svg += `<text x="${px(load)}" y="${py(0) + 14}" text-anchor="middle">${load * 100}% of max</text>`;
    for (let k = 0; k <= 4; k++) {
      const v = (yMax * k) / 4;
      svg += `<text x="${x0 + M.l - 4}" y="${py(v) + 4}" text-anchor="end">${v.toFixed(v < 10 ? 1 : 0)}</text>`;
    }
    svg += `<text x="${x0 + 12}" y="${M.t + (H - M.t - M.b) / 2}" transform="rotate(-90 ${x0 + 12} ${M.t + (H - M.t - M.b) / 2})" text-anchor="middle">ms</text>`;
    series.forEach((r, j) => {
      const runs = r.runs.filter((run) => run.load !== 'max');
      for (const [p, dash] of [['p99', ''], ['p50', ' stroke-dasharray="4 3"']]) {
        const d = runs.map((run, k) => `${k ? 'L' : 'M'}${px(run.load).toFixed(1)},${py(run.latency_ms[p]).toFixed(1)}`).join(' ');
        svg += `<path d="${d}" fill="none" stroke="${colors[r.scenario]}" stroke-width="2"${dash}/>`;
      }
      svg += `<text x="${x0 + M.l + 8}" y="${M.t + 12 + j * 13}" fill="${colors[r.scenario]}">${r.scenario} (max ${r.runs[0].rps.toFixed(0)} req/s)</text>`;
    });
  });
  svg += `<text x="10" y="${H + 22}">solid: p99, dashed: p50; open loop, latency from each request's scheduled start</text></svg>\n`;
  return svg;
}
