#!/usr/bin/env node
// `npm run bench`: Firkin's benchmark harness. See docs/benchmarks.md.
//
// Scenarios, run alternately in one invocation (this machine is shared and noisy:
// compare ratios, not absolute figures):
//   bare              node:http answering a fixed 1 KiB body: the ceiling for any Node.js service here
//   embedded          Firkin on the embedded LMDB engine
//   embedded-sealed   the same, the namespace sealed (issue 25)
//   cassandra-plain   Firkin on a single-node Cassandra, plain namespace (the default: Kask's statements)
//   cassandra-sealed  the same, sealed, on a table of its own
//   cassandra         Firkin on the plain scenario's table, namespace with conditional_writes (Paxos)
//   kask              Kask itself on the same table, when KASK_BIN names its binary
//   floor             node:http and the same cassandra-driver doing only Kask's GET, POST and
//                     DELETE (benchmarks/floor-server.mjs): Firkin's own work is what it costs above
//   driver            the `cassandra` scenario's queries through cassandra-driver, without HTTP
// Workload by workload (get, then post, then mixed: GET on the stores as prefilled), in
// BENCH_ROUNDS rounds (default 3), the scenarios' order rotated each round: every
// scenario's maximum throughput (closed loop); on Cassandra, with Kask, every scenario
// (and bare, at Kask's GET rates) open loop at 25 %, 40 % and 60 % of Kask's first-round
// maximum (the same absolute rates for all); in the first round, each scenario
// also open loop at 50 %, 75 % and 90 % of its own maximum. Figures are medians over the
// rounds, ratios medians of the per-round ratios. The load comes from benchmarks/loadgen
// (Go, standard library), never pipelined.
//
// Environment: BENCH_SECONDS (measured seconds per run, default 8), BENCH_ROUNDS (default 3),
// BENCH_WORKERS (Firkin's `workers`, default: the config default), BENCH_ONLY (comma-separated
// scenarios), BENCH_WORKLOADS (comma-separated: get, mixed, post), BENCH_KEYSPACE (default
// firkin_bench), KASK_BIN (a Kask binary: adds kask).
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOnPrimaryNode } from '../scripts/node-runtime.mjs';
import { fromBuild, loadRun, median, procStats, root, spawnJson, startServer, sumOf, treeSample, withCpu } from './harness.mjs';

// Measured on Node.js 24, the primary runtime (fetched when this `node` is older).
await runOnPrimaryNode(import.meta.url);
const here = join(root, 'benchmarks');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const KEYSPACE = process.env.BENCH_KEYSPACE ?? 'firkin_bench';
const KASK_BIN = process.env.KASK_BIN || undefined;
const LOADS = [0.5, 0.75, 0.9];
/** Fractions of Kask's maximum at which the other Cassandra-backed scenarios also run. */
const KASK_LOADS = [0.25, 0.4, 0.6];
/** From this fraction of Kask's maximum on, this two-core machine is saturated (JVM, server, load generator): tails swing. */
const SATURATED = 0.6;
/** Rounds: every measurement repeated, the scenarios' order rotated; figures are medians. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
// Concurrency, the same for every scenario (HTTP or driver): closed loop, clients each
// waiting for its answer; open loop, at most this many requests in flight.
const CLOSED_CLIENTS = 32;
const OPEN_CLIENTS = 64;
const ALL = ['bare', 'embedded', 'embedded-sealed', 'cassandra', 'cassandra-plain', 'cassandra-sealed', 'kask', 'floor', 'driver'];
const CASSANDRA_BACKED = ['cassandra', 'cassandra-plain', 'cassandra-sealed', 'kask', 'floor', 'driver'];
const ENABLE_KASK = 'kask: not measured; set KASK_BIN=/path/to/kask to compare Firkin with Kask (docs/benchmarks.md)';
const started = Date.now();

const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

const ONLY = process.env.BENCH_ONLY?.split(',').filter(Boolean);
const WORKLOADS = process.env.BENCH_WORKLOADS?.split(',').filter(Boolean);
for (const w of WORKLOADS ?? []) if (!['fixed', 'get', 'mixed', 'post'].includes(w)) throw new Error(`BENCH_WORKLOADS: unknown workload ${w} (known: fixed, get, mixed, post)`);
const scenarios = ONLY ?? ALL.filter((s) => KASK_BIN || s !== 'kask');
for (const s of scenarios) if (!ALL.includes(s)) throw new Error(`BENCH_ONLY: unknown scenario ${s} (known: ${ALL.join(', ')})`);
if (scenarios.includes('kask')) {
  if (!KASK_BIN) throw new Error('BENCH_ONLY names kask: set KASK_BIN=/path/to/kask');
  try {
    accessSync(KASK_BIN, constants.X_OK);
  } catch (err) {
    throw new Error(`KASK_BIN=${KASK_BIN}: not an executable file (${err.code})`);
  }
} else if (!KASK_BIN) log(ENABLE_KASK);

// Firkin runs with the V8 flags its launchers give it (bin/firkin.js's #! line, npm start).
const {
  cassandra: { SINGLE, startNode, isRunning, stopNode, nodePid },
  loadgen,
  V8_FLAGS,
} = await fromBuild();

/**
 * One run; the server's CPU (summed over its processes) and the JVM's are sampled over the
 * measured window only. For `driver`, the measured process is driver-bench itself, the
 * client of Cassandra in place of Firkin.
 */
async function load(server, workload, rate, seconds, warmup) {
  const clients = rate > 0 ? OPEN_CLIENTS : CLOSED_CLIENTS;
  const jvm = CASSANDRA_BACKED.includes(server.name) ? nodePid(SINGLE) : undefined;
  let result;
  if (server.name === 'driver') {
    let first;
    let last;
    const onLine = (line, child) => {
      const sample = { at: performance.now(), tree: treeSample(child.pid), jvm: jvm ? procStats(jvm) : undefined };
      if (line.phase === 'measure') first = sample;
      else last = sample;
    };
    result = withCpu(await spawnJson(process.execPath, [join(here, 'driver-bench.mjs'), server.config, workload, String(clients), String(rate), String(seconds), String(warmup)], onLine), first, last);
  } else {
    const url = workload === 'fixed' ? `${server.url}/` : `${server.url}/sessions/v1/`;
    result = await loadRun({ loadgen, url, pid: server.child.pid, jvm, workload, clients, rate, seconds, warmup, plain: server.plain });
    if (result.missed > 0) log(`${server.name} ${workload} at ${rate} req/s fell behind: ${result.missed} scheduled requests not sent`);
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
  // namespace on it is also the `cassandra-plain` scenario's config and `driver`'s. Sealed
  // namespaces get a table of their own (their storage keys are not the plain ones).
  const cassandraOf = (namespaces) => `storage: cassandra\ncassandra: {hosts: [127.0.0.1], keyspace: ${KEYSPACE}}\nnamespaces: [${namespaces}]\n`;
  const plainCassandra = cassandraOf('{name: sessions, base_uri: /sessions/v1/, table: sessions}');
  const keyFile = join(dir, 'bench.key');
  writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
  const keyring = `keyring: {active: k1, keys: [{id: k1, file: ${keyFile}}]}\nsealed: true\n`;
  const schemaFile = join(dir, 'schema.yaml');
  if (needCassandra) {
    startedCassandra = !isRunning(SINGLE);
    log('starting Cassandra (single node)…');
    await startNode(SINGLE);
    writeFileSync(join(dir, 'schema-all.yaml'), cassandraOf('{name: sessions, base_uri: /sessions/v1/, table: sessions}, {name: sealed, base_uri: /sealed/v1/, table: sessions_sealed}'));
    execFileSync(process.execPath, [join(root, 'bin/firkin.js'), 'schema', '--apply', '--config', join(dir, 'schema-all.yaml')], { stdio: ['ignore', 'ignore', 'inherit'] });
    writeFileSync(schemaFile, plainCassandra);
  }
  const workers = process.env.BENCH_WORKERS ? `workers: ${process.env.BENCH_WORKERS}\n` : '';
  if (wanted('bare')) servers.bare = await startServer('bare', process.execPath, [join(here, 'bare-server.mjs')]);
  if (wanted('embedded')) servers.embedded = await firkinUrl('embedded', `embedded: {path: ${join(dir, 'data')}}\n`);
  if (wanted('embedded-sealed')) servers['embedded-sealed'] = await firkinUrl('embedded-sealed', `embedded: {path: ${join(dir, 'data-sealed')}}\n${keyring}`);
  if (wanted('cassandra')) {
    servers.cassandra = await firkinUrl(
      'cassandra',
      // The mixed workload sends conditional adds, which a Cassandra namespace serves only with
      // conditional_writes (every write and delete then through Paxos: docs/cassandra.md).
      cassandraOf('{name: sessions, base_uri: /sessions/v1/, table: sessions, conditional_writes: true}'),
    );
  }
  if (wanted('cassandra-plain')) servers['cassandra-plain'] = { ...(await firkinUrl('cassandra-plain', plainCassandra)), plain: true };
  if (wanted('cassandra-sealed')) {
    servers['cassandra-sealed'] = { ...(await firkinUrl('cassandra-sealed', cassandraOf('{name: sessions, base_uri: /sessions/v1/, table: sessions_sealed}') + keyring)), plain: true };
  }
  if (wanted('kask')) servers.kask = await startKask(dir);
  if (wanted('floor')) servers.floor = { ...(await startServer('floor', process.execPath, [join(here, 'floor-server.mjs'), KEYSPACE, 'sessions'])), plain: true };
  if (wanted('driver')) servers.driver = { name: 'driver', config: schemaFile };

  async function firkinUrl(name, yaml) {
    // Firkin's "listening" line (info level) names its URL; requests are not logged at info.
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `listen_port: 0\nlog_level: info\n${workers}${yaml}`, { mode: 0o600 });
    return startServer(name, process.execPath, [...V8_FLAGS, join(root, 'bin/firkin.js'), 'serve', '--config', file]);
  }

  // Each store is filled once: the Cassandra scenarios but the sealed one share a table,
  // filled through the first of them (POST, which Kask answers too).
  const fillThrough = [
    servers.embedded, servers['embedded-sealed'], servers['cassandra-sealed'],
    // A plain writer first: the Paxos scenario fills at a third of the rate.
    ['cassandra-plain', 'floor', 'kask', 'cassandra'].map((s) => servers[s]).find(Boolean),
  ].filter(Boolean);
  for (const server of fillThrough) {
    log(`prefilling through ${server.name} with 20000 sessions…`);
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

  // Idle memory: each server started, prefilled and settled, before any measured load.
  const idleRss = {};
  for (const [name, server] of Object.entries(servers)) if (server.child) idleRss[name] = sumOf(treeSample(server.child.pid), 'rssMb');

  // --- measure, in rounds --------------------------------------------------------------------
  // Per workload, the scenarios one after the other, their order rotated each round (Kask
  // first in the first round: the other Cassandra-backed scenarios' rates derive from its
  // maximum). Each round: the maximum (closed loop), then, on Cassandra, the same absolute
  // rates for every scenario: fractions of Kask's first-round maximum. The first round also
  // runs each scenario at fractions of its own maximum (the chart's curves).
  const order = ['kask', 'floor', 'cassandra-plain', 'cassandra-sealed', 'cassandra', 'driver', 'embedded', 'embedded-sealed', 'bare'];
  const workloadsOf = (scenario) => (scenario === 'bare' ? ['fixed'] : scenario === 'driver' ? ['get', 'mixed'] : ['get', 'mixed', 'post']);
  // Workload by workload, every round of one before the next: GET first, on the stores just
  // as prefilled (every key there), then POST (rewrites), then mixed, whose deletes would
  // otherwise turn a later GET round's reads of deleted keys into 404s (counted as errors,
  // and cheaper than hits).
  const workloads = ['get', 'post', 'mixed', 'fixed'].filter((w) => w === 'fixed' || !WORKLOADS || WORKLOADS.includes(w));
  const results = []; // {scenario, workload, round, runs: [{load, of?, ...}]}
  const kaskMaxOf = {};
  for (const workload of workloads) {
    for (let round = 0; round < ROUNDS; round++) {
      const here = order.filter((s) => servers[s] && workloadsOf(s).includes(workload === 'fixed' ? 'fixed' : workload) && (workload === 'fixed') === (s === 'bare'));
      const rotated = round === 0 ? here : [...here.slice(round % here.length), ...here.slice(0, round % here.length)];
      for (const scenario of rotated) {
        const server = servers[scenario];
        const tag = `round ${round + 1}/${ROUNDS}: ${scenario} ${workload}`;
        log(`${tag}: maximum throughput (closed loop, ${SECONDS} s)…`);
        const max = await load(server, workload, 0, SECONDS, 2);
        const runs = [{ load: 'max', ...max }];
        if (scenario === 'kask' && round === 0) kaskMaxOf[workload] = max.rps;
        if (round === 0) {
          for (const fraction of LOADS) {
            const rate = Math.max(1, Math.round(max.rps * fraction));
            log(`${tag}: ${fraction * 100} % = ${rate} req/s (open loop, ${SECONDS} s)…`);
            runs.push({ load: fraction, rate, ...(await load(server, workload, rate, SECONDS, 1)) });
          }
        }
        const kaskMax = kaskMaxOf[scenario === 'bare' ? 'get' : workload];
        if (kaskMax && (CASSANDRA_BACKED.includes(scenario) || scenario === 'bare')) {
          for (const fraction of KASK_LOADS) {
            const rate = Math.max(1, Math.round(kaskMax * fraction));
            log(`${tag}: ${fraction * 100} % of Kask's maximum = ${rate} req/s (open loop, ${SECONDS} s)…`);
            runs.push({ load: fraction, of: 'kask', rate, ...(await load(server, workload, rate, SECONDS, 1)) });
          }
        }
        results.push({ scenario, workload, round, runs });
      }
    }
  }

  // --- report -----------------------------------------------------------------------------
  // One row per scenario, workload and load: the median over rounds of every figure.
  const merged = mergeRounds(results);
  const rows = [['scenario', 'workload', 'load', 'rounds', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'errors', 'CPU %', 'CPU ms/1k', 'RSS MB', 'anon MB', 'JVM CPU %', 'JVM ms/1k']];
  const fixed = (v, digits) => (v === undefined || v === null ? '-' : v.toFixed(digits));
  for (const r of merged) {
    for (const run of r.runs) {
      rows.push([
        r.scenario, r.workload, loadLabel(run), String(run.rounds), run.rps.toFixed(0),
        run.latency_ms.p50.toFixed(3), run.latency_ms.p99.toFixed(3), run.latency_ms.p999.toFixed(3), run.latency_ms.max.toFixed(1),
        String(run.errors), fixed(run.server?.cpu_percent, 0), fixed(run.server?.cpu_ms_per_1k_requests, 1), fixed(run.server?.rss_mb, 0),
        fixed(run.server?.rss_anon_mb, 0), fixed(run.cassandra_cpu_percent, 0), fixed(run.cassandra_cpu_ms_per_1k_requests, 1),
      ]);
    }
  }
  const comparisons = [
    ...['cassandra-plain', 'cassandra', 'floor'].map((s) => compare(results, s, 'kask', idleRss)),
    ...['cassandra-plain', 'cassandra-sealed'].map((s) => compare(results, s, 'floor', idleRss)),
    compare(results, 'cassandra-sealed', 'cassandra-plain', idleRss),
    compare(results, 'embedded-sealed', 'embedded', idleRss),
  ].flat();
  const head = ['scenario', 'against', 'workload', 'req/s at max', 'CPU/request at max', ...KASK_LOADS.map((f) => `p99 at ${f * 100}% of Kask${f >= SATURATED ? ' (saturated)' : ''}`), ...KASK_LOADS.slice(0, 1).map((f) => `CPU/request at ${f * 100}% of Kask`), 'RSS under load', 'RSS idle'];
  const figure = (v) => v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2);
  const cell = (c) => (c?.ratio === undefined || c.ratio === null ? '-' : `${c.ratio.toFixed(2)}× (${figure(c.a)} / ${figure(c.b)})`);
  const comparisonRows = [head, ...comparisons.map((c) => [c.scenario, c.against, c.workload, cell(c.rps), cell(c.cpu_max), ...c.p99_at_kask.map(cell), cell(c.cpu_at_kask[0]), cell(c.rss), cell(c.rss_idle)])];
  const comparisonNote =
    `Ratios (the scenario's figure / the other's), each the median of the per-round ratios over ${ROUNDS} round(s); in brackets the medians of each. ` +
    'Below 1 favours the scenario, except req/s. CPU per request: ms per 1 000 requests, the server\'s processes summed, over the measured window. ' +
    `p99 at the same offered rates, fractions of Kask's maximum (from ${SATURATED * 100} %, this two-core machine is saturated: JVM, server and load generator). ` +
    'RSS under load: the largest over the runs; idle: after start-up, prefill and settling, before any measured load.' +
    (servers.kask ? '' : ` ${ENABLE_KASK}`);
  process.stdout.write(`${textTable(rows)}\n\n${comparisonNote}\n${comparisons.length ? `${textTable(comparisonRows)}\n` : ''}`);

  const max = (s, w) => merged.find((r) => r.scenario === s && r.workload === w)?.runs.find((run) => run.load === 'max');
  const at = (s, w, l) => merged.find((r) => r.scenario === s && r.workload === w)?.runs.find((run) => run.load === l && !run.of);
  const targets = {
    embedded_get_vs_bare: max('embedded', 'get') && max('bare', 'fixed') ? max('embedded', 'get').rps / max('bare', 'fixed').rps : null,
    embedded_get_p99_at_50_ms: at('embedded', 'get', 0.5)?.latency_ms.p99 ?? null,
    embedded_mixed_rss_mb: Math.max(0, ...(merged.find((r) => r.scenario === 'embedded' && r.workload === 'mixed')?.runs ?? []).map((run) => run.server?.rss_mb ?? 0)),
    comparisons: comparisons.map((c) => ({
      scenario: c.scenario, against: c.against, workload: c.workload,
      rps: c.rps.ratio, cpu_per_request: c.cpu_max.ratio, p99_at_kask: c.p99_at_kask.map((x) => x.ratio), rss: c.rss.ratio, rss_idle: c.rss_idle.ratio,
    })),
  };
  process.stdout.write(`\ntargets: ${JSON.stringify(targets, null, 2)}\n`);

  const out = join(here, 'results');
  mkdirSync(out, { recursive: true });
  const meta = {
    date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu_model: cpus()[0]?.model, seconds_per_run: SECONDS, rounds: ROUNDS,
    workers: process.env.BENCH_WORKERS ?? 'default', closed_loop_clients: CLOSED_CLIENTS, open_loop_clients: OPEN_CLIENTS, keyspace: KEYSPACE,
    kask: servers.kask ? { version: servers.kask.version ?? null } : null, idle_rss_mb: idleRss, wall_seconds: (Date.now() - started) / 1000,
  };
  writeFileSync(join(out, 'latest.json'), `${JSON.stringify({ meta, targets, comparisons, results: merged, rounds: results }, null, 2)}\n`);
  writeFileSync(
    join(out, 'latest.md'),
    `# npm run bench, ${meta.date}\n\n${ROUNDS} round(s), ${SECONDS} s per run, Node.js ${meta.node}, ${meta.cpus} × ${meta.cpu_model}, Firkin workers: ${meta.workers}${meta.kask ? `, Kask ${meta.kask.version}` : ''}.\n\n` +
      `${markdownTable(rows)}\n\n${comparisonNote}\n${comparisons.length ? `\n${markdownTable(comparisonRows)}\n` : ''}`,
  );
  writeFileSync(join(out, 'latency.svg'), chart(merged));
  log(`done in ${meta.wall_seconds.toFixed(0)} s: benchmarks/results/latest.json, latest.md, latency.svg`);
} finally {
  for (const s of Object.values(servers)) s.child?.kill('SIGTERM');
  if (startedCassandra) await stopNode(SINGLE);
  rmSync(dir, { recursive: true, force: true });
}

/** The key of a run within its round: its load and what the load is a fraction of. */
function runKey(run) {
  return `${run.load}:${run.of ?? ''}`;
}

function loadLabel(run) {
  if (run.load === 'max') return 'max';
  return run.of ? `${run.load * 100}% of ${run.of}${run.load >= SATURATED ? ' (sat.)' : ''}` : `${run.load * 100}%`;
}

/** Per scenario and workload, each run's figures as the median over the rounds that ran it. */
function mergeRounds(results) {
  const merged = [];
  for (const r of results) {
    if (merged.some((m) => m.scenario === r.scenario && m.workload === r.workload)) continue;
    const rounds = results.filter((x) => x.scenario === r.scenario && x.workload === r.workload);
    const keys = [...new Set(rounds.flatMap((x) => x.runs.map(runKey)))];
    const runs = keys.map((key) => {
      const all = rounds.flatMap((x) => x.runs.filter((run) => runKey(run) === key));
      const m = (get) => median(all.map(get));
      return {
        load: all[0].load, ...(all[0].of ? { of: all[0].of } : {}), ...(all[0].rate ? { rate: all[0].rate } : {}), rounds: all.length,
        rps: m((x) => x.rps), errors: all.reduce((a, x) => a + x.errors, 0),
        latency_ms: Object.fromEntries(['p50', 'p99', 'p999', 'max'].map((p) => [p, m((x) => x.latency_ms[p])])),
        server: Object.fromEntries(['cpu_percent', 'cpu_ms_per_1k_requests', 'rss_mb', 'rss_anon_mb'].map((f) => [f, m((x) => x.server?.[f])])),
        cassandra_cpu_percent: m((x) => x.cassandra_cpu_percent), cassandra_cpu_ms_per_1k_requests: m((x) => x.cassandra_cpu_ms_per_1k_requests),
      };
    });
    merged.push({ scenario: r.scenario, workload: r.workload, runs });
  }
  return merged;
}

/**
 * `scenario` against `against`, per workload both ran: each figure's ratio is the median of
 * the per-round ratios (rounds alternate the two, so a noisy stretch of the machine hits
 * both); `a` and `b` are the medians of each side's figures.
 */
function compare(results, scenario, against, idleRss) {
  const out = [];
  for (const workload of ['get', 'mixed', 'post']) {
    const mine = results.filter((r) => r.scenario === scenario && r.workload === workload);
    const theirs = results.filter((r) => r.scenario === against && r.workload === workload);
    if (mine.length === 0 || theirs.length === 0) continue;
    const pairs = mine.map((r) => [r, theirs.find((t) => t.round === r.round)]).filter(([, t]) => t);
    const ratio = (pick) => {
      const a = median(mine.map(pick));
      const b = median(theirs.map(pick));
      const per = pairs.map(([x, y]) => (pick(x) != null && pick(y) ? pick(x) / pick(y) : null));
      return { a, b, ratio: median(per) };
    };
    const run = (key) => (r) => r.runs.find((x) => runKey(x) === key);
    const largest = (r) => Math.max(...r.runs.map((x) => x.server?.rss_mb ?? 0));
    out.push({
      scenario, against, workload,
      rps: ratio((r) => run('max:')(r)?.rps),
      cpu_max: ratio((r) => run('max:')(r)?.server?.cpu_ms_per_1k_requests),
      p99_at_kask: KASK_LOADS.map((f) => ratio((r) => run(`${f}:kask`)(r)?.latency_ms.p99)),
      cpu_at_kask: KASK_LOADS.map((f) => ratio((r) => run(`${f}:kask`)(r)?.server?.cpu_ms_per_1k_requests)),
      rss: ratio(largest),
      rss_idle: { a: idleRss[scenario] ?? null, b: idleRss[against] ?? null, ratio: idleRss[scenario] && idleRss[against] ? idleRss[scenario] / idleRss[against] : null },
    });
  }
  return out;
}

function textTable(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) => row.map((c, i) => c.padStart(widths[i])).join('  ')).join('\n');
}

function markdownTable(rows) {
  const line = (row) => `| ${row.join(' | ')} |`;
  return [line(rows[0]), line(rows[0].map((_, i) => (i < 3 ? '---' : '---:'))), ...rows.slice(1).map(line)].join('\n');
}

/**
 * Latency against offered load, one panel per workload: every scenario's open-loop runs at
 * their absolute rates (req/s, one axis for all, so two systems are compared at the same
 * rate), p99 solid and p50 dashed, latency on a log scale (the tail stays visible), on an
 * opaque background.
 */
function chart(results) {
  const workloads = [...new Set(results.map((r) => r.workload))].filter((w) => w !== 'fixed');
  const colors = {
    bare: '#7f7f7f', embedded: '#1f77b4', 'embedded-sealed': '#17becf', cassandra: '#d62728', 'cassandra-plain': '#ff7f0e',
    'cassandra-sealed': '#8c564b', kask: '#9467bd', floor: '#2ca02c', driver: '#bcbd22',
  };
  const W = 460, H = 330, M = { l: 62, r: 14, t: 34, b: 52 };
  const open = (r) => r.runs.filter((run) => run.load !== 'max' && run.rate).sort((a, b) => a.rate - b.rate);
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W * workloads.length}" height="${H + 34}" font-family="sans-serif" font-size="11">`;
  svg += `<rect width="100%" height="100%" fill="#ffffff"/>`;
  workloads.forEach((w, i) => {
    const x0 = i * W;
    const series = results.filter((r) => r.workload === w && open(r).length > 0);
    const runs = series.flatMap(open);
    if (runs.length === 0) return;
    const xMax = Math.max(...runs.map((run) => run.rate)) * 1.05;
    const lats = runs.flatMap((run) => [run.latency_ms.p50, run.latency_ms.p99]).filter((v) => v > 0);
    const yLo = 10 ** Math.floor(Math.log10(Math.min(...lats)));
    const yHi = 10 ** Math.ceil(Math.log10(Math.max(...lats)));
    const px = (rate) => x0 + M.l + (rate / xMax) * (W - M.l - M.r);
    const py = (ms) => M.t + (1 - (Math.log10(Math.max(ms, yLo)) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo))) * (H - M.t - M.b);
    const bottom = H - M.b;
    svg += `<text x="${x0 + W / 2}" y="18" text-anchor="middle" font-weight="bold">${w}: latency against offered load</text>`;
    svg += `<line x1="${x0 + M.l}" y1="${bottom}" x2="${x0 + W - M.r}" y2="${bottom}" stroke="black"/><line x1="${x0 + M.l}" y1="${M.t}" x2="${x0 + M.l}" y2="${bottom}" stroke="black"/>`;
    const step = niceStep(xMax / 5);
    for (let v = 0; v <= xMax; v += step) {
      svg += `<line x1="${px(v)}" y1="${bottom}" x2="${px(v)}" y2="${bottom + 4}" stroke="black"/><text x="${px(v)}" y="${bottom + 16}" text-anchor="middle">${v}</text>`;
    }
    for (let v = yLo; v <= yHi * 1.001; v *= 10) {
      svg += `<line x1="${x0 + M.l}" y1="${py(v)}" x2="${x0 + W - M.r}" y2="${py(v)}" stroke="#dddddd"/><text x="${x0 + M.l - 4}" y="${py(v) + 4}" text-anchor="end">${v >= 1 ? v : v.toPrecision(1)}</text>`;
    }
    svg += `<text x="${x0 + M.l + (W - M.l - M.r) / 2}" y="${bottom + 34}" text-anchor="middle">offered load (requests per second, open loop)</text>`;
    const mid = M.t + (H - M.t - M.b) / 2;
    svg += `<text x="${x0 + 16}" y="${mid}" transform="rotate(-90 ${x0 + 16} ${mid})" text-anchor="middle">latency (ms, log scale)</text>`;
    series.forEach((r, j) => {
      for (const [p, dash] of [['p99', ''], ['p50', ' stroke-dasharray="4 3"']]) {
        const d = open(r).map((run, k) => `${k ? 'L' : 'M'}${px(run.rate).toFixed(1)},${py(run.latency_ms[p]).toFixed(1)}`).join(' ');
        svg += `<path d="${d}" fill="none" stroke="${colors[r.scenario] ?? 'black'}" stroke-width="2"${dash}/>`;
      }
      const max = r.runs.find((run) => run.load === 'max');
      svg += `<text x="${x0 + M.l + 8}" y="${M.t + 12 + j * 13}" fill="${colors[r.scenario] ?? 'black'}">${r.scenario} (max ${max ? max.rps.toFixed(0) : '-'} req/s)</text>`;
    });
  });
  svg += `<text x="10" y="${H + 26}">solid: p99, dashed: p50; latency from each request's scheduled start; medians over rounds</text></svg>\n`;
  return svg;
}

/** 1, 2 or 5 times a power of ten, at least `raw`. */
function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
}
