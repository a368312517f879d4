#!/usr/bin/env node
// Where a tail comes from: the same open-loop load against the floor and against Firkin
// on Cassandra in variants of its config, in rotated rounds, each run's p50/p99/max and
// the server's CPU per request; medians per variant at the end.
//
//   node benchmarks/tail.mjs <workload> <rate> [rounds] [seconds]
//     variants (BENCH_VARIANTS, comma-separated; default all): floor, default,
//     no-compare (insight.compare_sample_rate: 0), gc-default (without Firkin's V8 flags),
//     before (Firkin built in the checkout BEFORE_ROOT names: a before/after pair with default)
//   rate 0: closed loop, 32 clients (the bench's maximum-throughput runs)
//
// Needs `npm run build` and the single Cassandra test node (started if not running).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOnPrimaryNode } from '../scripts/node-runtime.mjs';
import { fromBuild, loadRun, median, root, spawnJson, startServer } from './harness.mjs';

await runOnPrimaryNode(import.meta.url);
const [workload = 'post', rate = '600', roundsArg = '3', secondsArg = '8'] = process.argv.slice(2);
const KEYSPACE = process.env.BENCH_KEYSPACE ?? 'firkin_bench';
const {
  cassandra: { SINGLE, startNode, isRunning },
  loadgen,
  V8_FLAGS,
} = await fromBuild();
const dir = mkdtempSync(join(tmpdir(), 'firkin-tail-'));
const log = (msg) => process.stderr.write(`tail: ${msg}\n`);
if (!isRunning(SINGLE)) await startNode(SINGLE);

const base = `listen_port: 0\nlog_level: info\nworkers: 1\nstorage: cassandra\ncassandra: {hosts: [127.0.0.1], keyspace: ${KEYSPACE}}\nnamespaces: [{name: sessions, base_uri: /sessions/v1/, table: sessions}]\n`;
const VARIANTS = {
  floor: () => startServer('floor', process.execPath, [join(root, 'benchmarks/floor-server.mjs'), KEYSPACE, 'sessions']),
  default: () => firkin('default', base, V8_FLAGS),
  'no-compare': () => firkin('no-compare', `${base}insight: {compare_sample_rate: 0}\n`, V8_FLAGS),
  'gc-default': () => firkin('gc-default', base, []),
  before: () => firkin('before', base, V8_FLAGS, process.env.BEFORE_ROOT),
};
const names = process.env.BENCH_VARIANTS?.split(',') ?? Object.keys(VARIANTS).filter((n) => n !== 'before' || process.env.BEFORE_ROOT);
if (names.includes('before') && !process.env.BEFORE_ROOT) throw new Error('the before variant needs BEFORE_ROOT (a built checkout)');
for (const n of names) if (!(n in VARIANTS)) throw new Error(`unknown variant ${n}`);

function firkin(name, yaml, flags, checkout = root) {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml, { mode: 0o600 });
  return startServer(name, process.execPath, [...flags, join(checkout, 'bin/firkin.js'), 'serve', '--config', file]);
}

const servers = {};
for (const n of names) servers[n] = await VARIANTS[n]();
// Every server writes the prefill (the same keys): each is as warmed up as the others
// (with the prefill through the first only, the first ran 5-8 % less CPU per request in A/A runs).
for (const n of names) await spawnJson(loadgen, ['-url', `${servers[n].url}/sessions/v1/`, '-workload', 'prefill', '-c', '32']);
const results = Object.fromEntries(names.map((n) => [n, []]));
const rounds = Number(roundsArg);
for (let round = 0; round < rounds; round++) {
  const order = names.map((_, i) => names[(i + round) % names.length]);
  for (const n of order) {
    const s = servers[n];
    const closed = Number(rate) === 0;
    const r = await loadRun({ loadgen, url: `${s.url}/sessions/v1/`, pid: s.child.pid, workload, clients: closed ? 32 : 64, rate: Number(rate), seconds: Number(secondsArg), warmup: closed ? 2 : 1, plain: true });
    const row = { rps: r.rps, p50: r.latency_ms?.p50, p99: r.latency_ms?.p99, max: r.latency_ms?.max, cpu: r.server.cpu_ms_per_1k_requests, errors: r.errors ?? 0 };
    results[n].push(row);
    log(`round ${round + 1}/${rounds} ${n}: ${row.rps?.toFixed(0)} req/s, p50 ${row.p50?.toFixed(2)} ms, p99 ${row.p99?.toFixed(2)} ms, max ${row.max?.toFixed(1)} ms, CPU ${row.cpu?.toFixed(1)} ms/1k`);
  }
}
console.log(`${workload} ${Number(rate) === 0 ? 'closed loop' : `at ${rate} req/s`}, ${rounds} rounds of ${secondsArg} s (medians; each round's p99 in brackets)`);
for (const n of names) {
  const rs = results[n];
  const m = (f) => median(rs.map((r) => r[f]));
  console.log(`${n.padEnd(11)} ${m('rps')?.toFixed(0)} req/s  p50 ${m('p50')?.toFixed(2)} ms  p99 ${m('p99')?.toFixed(2)} ms [${rs.map((r) => r.p99?.toFixed(1)).join(', ')}]  max ${m('max')?.toFixed(1)} ms  CPU ${m('cpu')?.toFixed(1)} ms/1k`);
}
for (const s of Object.values(servers)) s.child.kill('SIGTERM');
rmSync(dir, { recursive: true, force: true });
process.exit(0);
