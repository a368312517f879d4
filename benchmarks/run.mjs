#!/usr/bin/env node
// `npm run bench`: Firkin's benchmark harness. See docs/benchmarks.md.
//
// Scenarios, run alternately in one invocation (this machine is shared and noisy:
// compare ratios, not absolute figures):
//   bare             node:http answering a fixed 1 KiB body: the ceiling for any Node.js service here
//   embedded         Firkin on the embedded LMDB engine
//   cassandra        Firkin on a single-node Cassandra, namespace with conditional_writes
//   cassandra-plain  Firkin on the same table, plain namespace (the default: Kask's statements)
//   kask             Kask itself on the same table, when KASK_BIN names its binary
//   driver           the `cassandra` scenario's queries through cassandra-driver, without HTTP
// For each scenario and workload: the maximum throughput (closed loop), then latency
// open loop at 50 %, 75 % and 90 % of it, after a warm-up; with Kask, every other
// Cassandra-backed scenario (and bare, at Kask's GET rates) also at 50 % and 75 % of Kask's maximum (the same absolute
// rates as Kask's own runs). The load comes from benchmarks/loadgen (Go, standard
// library), never pipelined.
//
// Environment: BENCH_SECONDS (measured seconds per run, default 8), BENCH_WORKERS
// (Firkin's `workers`, default: the config default), BENCH_ONLY (comma-separated scenarios),
// BENCH_WORKLOADS (comma-separated: fixed, get, mixed, post), BENCH_KEYSPACE (default firkin_bench), KASK_BIN (a Kask binary: adds kask and cassandra-plain).
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runOnPrimaryNode } from '../scripts/node-runtime.mjs';

// Measured on Node.js 24, the primary runtime (fetched when this `node` is older).
await runOnPrimaryNode(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const here = join(root, 'benchmarks');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const KEYSPACE = process.env.BENCH_KEYSPACE ?? 'firkin_bench';
const KASK_BIN = process.env.KASK_BIN || undefined;
const LOADS = [0.5, 0.75, 0.9];
/** Fractions of Kask's maximum at which the other Cassandra-backed scenarios also run. */
const KASK_LOADS = [0.5, 0.75];
// Concurrency, the same for every scenario (HTTP or driver): closed loop, clients each
// waiting for its answer; open loop, at most this many requests in flight.
const CLOSED_CLIENTS = 32;
const OPEN_CLIENTS = 64;
const ALL = ['bare', 'embedded', 'cassandra', 'cassandra-plain', 'kask', 'driver'];
const CASSANDRA_BACKED = ['cassandra', 'cassandra-plain', 'kask', 'driver'];
/** Firkin's scenarios compared with Kask (same table, same node); how each writes. */
const VS_KASK = { 'cassandra-plain': 'plain', cassandra: 'LWT' };
const ENABLE_KASK = 'kask: not measured; set KASK_BIN=/path/to/kask to compare Firkin with Kask (docs/benchmarks.md)';
const started = Date.now();

const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

const ONLY = process.env.BENCH_ONLY?.split(',').filter(Boolean);
const WORKLOADS = process.env.BENCH_WORKLOADS?.split(',').filter(Boolean);
for (const w of WORKLOADS ?? []) if (!['fixed', 'get', 'mixed', 'post'].includes(w)) throw new Error(`BENCH_WORKLOADS: unknown workload ${w} (known: fixed, get, mixed, post)`);
const scenarios = ONLY ?? ALL.filter((s) => KASK_BIN || !['kask', 'cassandra-plain'].includes(s));
for (const s of scenarios) if (!ALL.includes(s)) throw new Error(`BENCH_ONLY: unknown scenario ${s} (known: ${ALL.join(', ')})`);
if (scenarios.includes('kask')) {
  if (!KASK_BIN) throw new Error('BENCH_ONLY names kask: set KASK_BIN=/path/to/kask');
  try {
    accessSync(KASK_BIN, constants.X_OK);
  } catch (err) {
    throw new Error(`KASK_BIN=${KASK_BIN}: not an executable file (${err.code})`);
  }
} else if (!KASK_BIN) log(ENABLE_KASK);

const { SINGLE, startNode, isRunning, stopNode, nodePid } = await import(join(root, 'dist/tools/cassandra/node.js'));
const { loadgenBinary } = await import(join(root, 'dist/tools/loadgen.js'));
// Firkin runs with the V8 flags its launchers give it (bin/firkin.js's #! line, npm start).
const { V8_FLAGS } = await import(join(root, 'dist/src/runtime-flags.js'));
const { processStats, processTree } = await import(join(root, 'dist/tools/proc-stats.js'));
const loadgen = loadgenBinary();
const children = [];
process.on('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));

/**
 * Run a program printing JSON lines; resolves with the last one that is not a phase marker.
 * `onLine(parsed, child)` sees every line as it arrives.
 */
function spawnJson(cmd, args, onLine = () => {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let partial = '';
    let last;
    child.stdout.on('data', (chunk) => {
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop();
      for (const line of lines.filter((l) => l.trim())) {
        const parsed = JSON.parse(line);
        onLine(parsed, child);
        if (!parsed.phase) last = parsed;
      }
    });
    child.on('close', (code) => (code === 0 && last ? resolve(last) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

/** Start a server process and wait for the JSON line from which `urlOf` gets its URL. */
function startServer(name, cmd, args, urlOf = (line) => line.url) {
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

/** CPU and memory of a server process and every descendant (Firkin's workers), by pid. */
function treeSample(pid) {
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
function treeCpuSeconds(before, after) {
  let sum = 0;
  for (const [pid, s] of after) sum += s.cpuSeconds - (before.get(pid)?.cpuSeconds ?? 0);
  return sum;
}

const sumOf = (tree, field) => [...tree.values()].reduce((a, s) => a + s[field], 0);

/**
 * One run; the server's CPU (summed over its processes) and the JVM's are sampled over the
 * measured window only: from the generator's {"phase":"measure"} line (after the warm-up)
 * to its result line. For `driver`, the measured process is driver-bench itself, the
 * client of Cassandra in place of Firkin.
 */
async function load(server, workload, rate, seconds, warmup) {
  const clients = rate > 0 ? OPEN_CLIENTS : CLOSED_CLIENTS;
  const jvm = CASSANDRA_BACKED.includes(server.name) ? nodePid(SINGLE) : undefined;
  let first;
  let last;
  const onLine = (line, child) => {
    const sample = { at: performance.now(), tree: treeSample(server.child?.pid ?? child.pid), jvm: jvm ? procStats(jvm) : undefined };
    if (line.phase === 'measure') first = sample;
    else last = sample;
  };
  let result;
  if (server.name === 'driver') {
    result = await spawnJson(process.execPath, [join(here, 'driver-bench.mjs'), server.config, workload, String(clients), String(rate), String(seconds), String(warmup)], onLine);
  } else {
    const url = workload === 'fixed' ? `${server.url}/` : `${server.url}/sessions/v1/`;
    const args = ['-url', url, '-workload', workload, '-c', String(clients), '-rate', String(rate), '-d', `${seconds}s`, '-warmup', `${warmup}s`, '-phases'];
    // Kask, and Firkin's plain namespace, have no conditional writes: the mixed workload's adds go as plain POSTs.
    if (server.plain) args.push('-conditional=false');
    result = await spawnJson(loadgen, args, onLine);
    if (result.missed > 0) log(`${server.name} ${workload} at ${rate} req/s fell behind: ${result.missed} scheduled requests not sent`);
  }
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
  if (jvm) {
    const jvmCpu = last.jvm.cpuSeconds - first.jvm.cpuSeconds;
    result.cassandra_cpu_percent = (jvmCpu / wall) * 100;
    result.cassandra_cpu_ms_per_1k_requests = perThousand(jvmCpu);
  }
  return result;
}

/** A TCP port free now (for Kask, which cannot listen on port 0 and say which port it got). */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Kask on the Cassandra scenario's table, configured as its config.yaml.sample without TLS. */
async function startKask(dir) {
  const port = await freePort();
  const file = join(dir, 'kask.yaml');
  writeFileSync(
    file,
    `service_name: kask\nbase_uri: /sessions/v1\nlisten_address: 127.0.0.1\nlisten_port: ${port}\ndefault_ttl: 86400\nlog_level: info\n` +
      `cassandra:\n  hosts: [127.0.0.1]\n  port: 9042\n  keyspace: ${KEYSPACE}\n  table: sessions\n  local_dc: datacenter1\n`,
  );
  let version;
  const server = await startServer('kask', KASK_BIN, ['--config', file], (line) => {
    version ??= /Initializing Kask (\S+)/.exec(line.msg ?? '')?.[1];
    return /^Starting service/.test(line.msg ?? '') ? `http://127.0.0.1:${port}` : undefined;
  });
  // It logs before it listens.
  for (let i = 0; ; i++) {
    const answer = await fetch(`${server.url}/healthz`).then((res) => res.status, (err) => err.message);
    if (answer === 200) break;
    if (i === 100) throw new Error(`kask does not answer on ${server.url}/healthz: ${answer}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ...server, plain: true, version };
}

// --- set up -----------------------------------------------------------------------------
const wanted = (s) => scenarios.includes(s);
const needCassandra = CASSANDRA_BACKED.some(wanted);
let startedCassandra = false;
const dir = mkdtempSync(join(tmpdir(), 'firkin-bench-'));
const servers = {};
try {
  // Kask's layout (key text PRIMARY KEY, value blob): `firkin schema` creates it. A plain
  // namespace on it is also the `cassandra-plain` scenario's config and `driver`'s.
  const plainCassandra = `storage: cassandra\ncassandra: {hosts: [127.0.0.1], keyspace: ${KEYSPACE}}\nnamespaces: [{name: sessions, base_uri: /sessions/v1/, table: sessions}]\n`;
  const schemaFile = join(dir, 'schema.yaml');
  if (needCassandra) {
    startedCassandra = !isRunning(SINGLE);
    log('starting Cassandra (single node)…');
    await startNode(SINGLE);
    writeFileSync(schemaFile, plainCassandra);
    execFileSync(process.execPath, [join(root, 'bin/firkin.js'), 'schema', '--apply', '--config', schemaFile], { stdio: ['ignore', 'ignore', 'inherit'] });
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
  if (wanted('cassandra-plain')) servers['cassandra-plain'] = { ...(await firkinUrl('cassandra-plain', plainCassandra)), plain: true };
  if (wanted('kask')) servers.kask = await startKask(dir);
  if (wanted('driver')) servers.driver = { name: 'driver', config: schemaFile };

  async function firkinUrl(name, yaml) {
    // Firkin's "listening" line (info level) names its URL; requests are not logged at info.
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `listen_port: 0\nlog_level: info\n${workers}${yaml}`);
    return startServer(name, process.execPath, [...V8_FLAGS, join(root, 'bin/firkin.js'), 'serve', '--config', file]);
  }

  // The Cassandra scenarios share one table: fill it once, through the first of them (POST, which Kask answers too).
  const fillThrough = [servers.embedded, ['cassandra', 'cassandra-plain', 'kask'].map((s) => servers[s]).find(Boolean)].filter(Boolean);
  for (const server of fillThrough) {
    log(`prefilling ${server.name === 'embedded' ? 'embedded' : `${KEYSPACE}.sessions through ${server.name}`} with 20000 sessions…`);
    const prefill = await spawnJson(loadgen, ['-url', `${server.url}/sessions/v1/`, '-workload', 'prefill', '-c', '32']);
    if (prefill.failed > 0) throw new Error(`prefilling through ${server.name}: ${prefill.failed} of ${prefill.prefilled} writes failed`);
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
  // Kask first among the Cassandra scenarios of a workload: the others' extra rates derive from its maximum.
  // Bare after Kask's GET too: it also runs at Kask's GET rates, the floor of HTTP's cost per request at those rates.
  const plan = [
    ['embedded', 'get'], ['kask', 'get'], ['cassandra', 'get'], ['cassandra-plain', 'get'], ['driver', 'get'], ['bare', 'fixed'],
    ['embedded', 'mixed'], ['kask', 'mixed'], ['cassandra', 'mixed'], ['cassandra-plain', 'mixed'], ['driver', 'mixed'],
    ['embedded', 'post'], ['kask', 'post'], ['cassandra', 'post'], ['cassandra-plain', 'post'],
  ].filter(([s, w]) => servers[s] && (!WORKLOADS || w === 'fixed' || WORKLOADS.includes(w)));
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
    const kaskMax = ownRun(results, 'kask', scenario === 'bare' ? 'get' : workload, 'max');
    if (kaskMax && scenario !== 'kask' && (CASSANDRA_BACKED.includes(scenario) || scenario === 'bare')) {
      for (const fraction of KASK_LOADS) {
        const rate = Math.max(1, Math.round(kaskMax.rps * fraction));
        log(`${scenario} ${workload}: ${fraction * 100} % of Kask's maximum = ${rate} req/s (open loop, ${SECONDS} s)…`);
        runs.push({ load: fraction, of: 'kask', ...(await load(server, workload, rate, SECONDS, 1)) });
      }
    }
    results.push({ scenario, workload, runs });
  }

  // --- report -----------------------------------------------------------------------------
  const rows = [['scenario', 'workload', 'load', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'errors', 'CPU %', 'CPU ms/1k', 'RSS MB', 'anon MB', 'JVM CPU %', 'JVM ms/1k']];
  const fixed = (v, digits) => (v === undefined || v === null ? '-' : v.toFixed(digits));
  for (const r of results) {
    for (const run of r.runs) {
      rows.push([
        r.scenario, r.workload, loadLabel(run), run.rps.toFixed(0),
        run.latency_ms.p50.toFixed(3), run.latency_ms.p99.toFixed(3), run.latency_ms.p999.toFixed(3), run.latency_ms.max.toFixed(1),
        String(run.errors), fixed(run.server?.cpu_percent, 0), fixed(run.server?.cpu_ms_per_1k_requests, 1), fixed(run.server?.rss_mb, 0),
        fixed(run.server?.rss_anon_mb, 0), fixed(run.cassandra_cpu_percent, 0), fixed(run.cassandra_cpu_ms_per_1k_requests, 1),
      ]);
    }
  }
  const comparison = kaskComparison(results);
  const comparisonRows = [['Firkin', 'writes', 'workload', 'req/s at max', `p99 at ${KASK_LOADS[0] * 100}% of Kask`, `p99 at ${KASK_LOADS[1] * 100}% of Kask`, `CPU/request at ${KASK_LOADS[0] * 100}%`, `JVM CPU/request at ${KASK_LOADS[0] * 100}%`, 'RSS (max)']];
  const figure = (v) => v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2);
  const cell = (c) => (c?.ratio === undefined || c.ratio === null ? '-' : `${c.ratio.toFixed(2)}× (${figure(c.firkin)} / ${figure(c.kask)})`);
  for (const c of comparison) {
    comparisonRows.push([c.firkin, VS_KASK[c.firkin], c.workload, cell(c.rps), cell(c.p99_ms_at_kask[0]), cell(c.p99_ms_at_kask[1]), cell(c.cpu_ms_per_1k_requests), cell(c.cassandra_cpu_ms_per_1k_requests), cell(c.rss_mb)]);
  }
  const kaskNote = servers.kask
    ? `Firkin / Kask on the same table (${KEYSPACE}.sessions) and node: ratio (Firkin's figure / Kask's); below 1 favours Firkin, except req/s. ` +
      "Writes: plain, Kask's statements (cassandra-plain); LWT, every write and delete a lightweight transaction (cassandra, conditional_writes). " +
      'p99 and CPU per request (ms per 1000 requests; Firkin\'s processes summed) at the same offered rates, fractions of Kask\'s maximum; RSS summed over processes.'
    : ENABLE_KASK;
  process.stdout.write(`${textTable(rows)}\n\n${kaskNote}\n${comparison.length ? `${textTable(comparisonRows)}\n` : ''}`);

  const max = (s, w) => ownRun(results, s, w, 'max');
  const at = (s, w, l) => ownRun(results, s, w, l);
  const atKask = (s, w) => results.find((r) => r.scenario === s && r.workload === w)?.runs.find((run) => run.of === 'kask' && run.load === KASK_LOADS[0]);
  const targets = {
    embedded_get_vs_bare: max('embedded', 'get') && max('bare', 'fixed') ? max('embedded', 'get').rps / max('bare', 'fixed').rps : null,
    embedded_get_p99_at_50_ms: at('embedded', 'get', 0.5)?.latency_ms.p99 ?? null,
    cassandra_http_overhead_p50_ms: at('cassandra', 'get', 0.5) && at('driver', 'get', 0.5) ? at('cassandra', 'get', 0.5).latency_ms.p50 - at('driver', 'get', 0.5).latency_ms.p50 : null,
    cassandra_get_p99_at_50_ms: at('cassandra', 'get', 0.5)?.latency_ms.p99 ?? null,
    // With Kask: both at the same absolute rate (half Kask's maximum), rather than at half their own.
    cassandra_http_overhead_p50_ms_at_equal_rate: atKask('cassandra', 'get') && atKask('driver', 'get') ? atKask('cassandra', 'get').latency_ms.p50 - atKask('driver', 'get').latency_ms.p50 : null,
    // Firkin's CPU per GET on Cassandra against the bare HTTP server's plus the driver's alone, at the same rates (Kask's).
    cassandra_get_cpu_vs_bare_plus_driver_at_kask: KASK_LOADS.map((f) => {
      const cpu = (s, w) => results.find((r) => r.scenario === s && r.workload === w)?.runs.find((run) => run.of === 'kask' && run.load === f)?.server?.cpu_ms_per_1k_requests;
      const [firkin, bare, driver] = [cpu('cassandra-plain', 'get'), cpu('bare', 'fixed'), cpu('driver', 'get')];
      return { fraction_of_kask_max: f, firkin: firkin ?? null, bare: bare ?? null, driver: driver ?? null, ratio: firkin && bare && driver ? firkin / (bare + driver) : null };
    }),
    embedded_mixed_rss_mb: Math.max(...(results.find((r) => r.scenario === 'embedded' && r.workload === 'mixed')?.runs ?? []).map((run) => run.server?.rss_mb ?? 0)),
    embedded_mixed_rss_anon_mb: Math.max(...(results.find((r) => r.scenario === 'embedded' && r.workload === 'mixed')?.runs ?? []).map((run) => run.server?.rss_anon_mb ?? 0)),
  };
  process.stdout.write(`\ntargets: ${JSON.stringify(targets, null, 2)}\n`);

  const out = join(here, 'results');
  mkdirSync(out, { recursive: true });
  const meta = {
    date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu_model: cpus()[0]?.model, seconds_per_run: SECONDS,
    workers: process.env.BENCH_WORKERS ?? 'default', closed_loop_clients: CLOSED_CLIENTS, open_loop_clients: OPEN_CLIENTS, keyspace: KEYSPACE,
    kask: servers.kask ? { version: servers.kask.version ?? null } : null, wall_seconds: (Date.now() - started) / 1000,
  };
  writeFileSync(join(out, 'latest.json'), `${JSON.stringify({ meta, targets, kask_comparison: comparison, results }, null, 2)}\n`);
  writeFileSync(join(out, 'latest.md'), `# npm run bench, ${meta.date}\n\n${SECONDS} s per run, Node.js ${meta.node}, ${meta.cpus} × ${meta.cpu_model}, Firkin workers: ${meta.workers}${meta.kask ? `, Kask ${meta.kask.version}` : ''}.\n\n${markdownTable(rows)}\n\n${kaskNote}\n${comparison.length ? `\n${markdownTable(comparisonRows)}\n` : ''}`);
  writeFileSync(join(out, 'latency.svg'), chart(results));
  log(`done in ${meta.wall_seconds.toFixed(0)} s: benchmarks/results/latest.json, latest.md, latency.svg`);
} finally {
  for (const s of Object.values(servers)) s.child?.kill('SIGTERM');
  if (startedCassandra) await stopNode(SINGLE);
  rmSync(dir, { recursive: true, force: true });
}

/** A scenario's own run at `load` ('max' or a fraction of its own maximum), not one at a rate derived from Kask's. */
function ownRun(results, scenario, workload, load) {
  return results.find((r) => r.scenario === scenario && r.workload === workload)?.runs.find((run) => run.load === load && !run.of);
}

function loadLabel(run) {
  if (run.load === 'max') return 'max';
  return run.of ? `${run.load * 100}% of ${run.of}` : `${run.load * 100}%`;
}

/**
 * Firkin against Kask, per Firkin Cassandra scenario and workload: maximum throughput,
 * p99 at the same absolute rates (fractions of Kask's maximum), CPU per request at the
 * first of those rates (Firkin's processes summed; the JVM's too), and the largest RSS.
 */
function kaskComparison(results) {
  const ratio = (firkin, kask) => ({ firkin: firkin ?? null, kask: kask ?? null, ratio: firkin !== undefined && firkin !== null && kask ? firkin / kask : null });
  const comparisons = [];
  for (const r of results) {
    const kask = results.find((k) => k.scenario === 'kask' && k.workload === r.workload);
    if (!(r.scenario in VS_KASK) || !kask) continue;
    const equal = (fraction) => r.runs.find((run) => run.of === 'kask' && run.load === fraction);
    const kaskAt = (fraction) => ownRun(results, 'kask', r.workload, fraction);
    const largestRss = (runs) => Math.max(...runs.map((run) => run.server?.rss_mb ?? 0));
    comparisons.push({
      firkin: r.scenario,
      writes: VS_KASK[r.scenario],
      workload: r.workload,
      rps: ratio(r.runs[0].rps, kask.runs[0].rps),
      p99_ms_at_kask: KASK_LOADS.map((f) => ({ fraction_of_kask_max: f, ...ratio(equal(f)?.latency_ms.p99, kaskAt(f)?.latency_ms.p99) })),
      cpu_ms_per_1k_requests: ratio(equal(KASK_LOADS[0])?.server?.cpu_ms_per_1k_requests, kaskAt(KASK_LOADS[0])?.server?.cpu_ms_per_1k_requests),
      cassandra_cpu_ms_per_1k_requests: ratio(equal(KASK_LOADS[0])?.cassandra_cpu_ms_per_1k_requests, kaskAt(KASK_LOADS[0])?.cassandra_cpu_ms_per_1k_requests),
      rss_mb: ratio(largestRss(r.runs), largestRss(kask.runs)),
    });
  }
  return comparisons;
}

function textTable(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) => row.map((c, i) => c.padStart(widths[i])).join('  ')).join('\n');
}

function markdownTable(rows) {
  const line = (row) => `| ${row.join(' | ')} |`;
  return [line(rows[0]), line(rows[0].map((_, i) => (i < 3 ? '---' : '---:'))), ...rows.slice(1).map(line)].join('\n');
}

/** Latency percentiles (p50 dashed, p99 solid) against offered load, one panel per workload. */
function chart(results) {
  const workloads = [...new Set(results.map((r) => r.workload))];
  const colors = { bare: '#7f7f7f', embedded: '#1f77b4', cassandra: '#d62728', 'cassandra-plain': '#ff7f0e', kask: '#9467bd', driver: '#2ca02c' };
  const W = 360, H = 260, M = { l: 50, r: 10, t: 30, b: 40 };
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W * workloads.length}" height="${H + 30}" font-family="sans-serif" font-size="11">`;
  workloads.forEach((w, i) => {
    const x0 = i * W;
    const series = results.filter((r) => r.workload === w);
    const points = series.flatMap((r) => r.runs.filter((run) => run.load !== 'max' && !run.of).map((run) => run.latency_ms.p99));
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
      const runs = r.runs.filter((run) => run.load !== 'max' && !run.of);
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
