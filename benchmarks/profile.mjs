#!/usr/bin/env node
// Where a server's time goes: a V8 CPU profile of one server under an open-loop load,
// summarised per function and per file in milliseconds per 1 000 requests (self time).
// What docs/benchmarks.md's "Where the time goes" tables come from.
//
//   node benchmarks/profile.mjs <scenario> <workload> <rate> [seconds]
//     scenario: embedded | embedded-sealed | cassandra-plain | cassandra-sealed | cassandra | floor
//     workload: get | post | mixed
//
// Needs `npm run build`. Cassandra scenarios use the single test node (started if it is
// not running, keyspace firkin_bench, table sessions), as `npm run bench` does.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runOnPrimaryNode } from '../scripts/node-runtime.mjs';
import { fromBuild, root } from './harness.mjs';

await runOnPrimaryNode(import.meta.url);
const [scenario = 'cassandra-plain', workload = 'get', rateArg = '1000', secondsArg = '15'] = process.argv.slice(2);
const KEYSPACE = process.env.BENCH_KEYSPACE ?? 'firkin_bench';
const {
  cassandra: { SINGLE, startNode, isRunning },
  loadgen,
  V8_FLAGS,
} = await fromBuild();
const dir = mkdtempSync(join(tmpdir(), 'firkin-profile-'));
const log = (msg) => process.stderr.write(`profile: ${msg}\n`);

const ns = (extra) => `namespaces: [{name: sessions, base_uri: /sessions/v1/, table: sessions${extra}}]\n`;
const cassandra = `storage: cassandra\ncassandra: {hosts: [127.0.0.1], keyspace: ${KEYSPACE}}\n`;
const embedded = `embedded: {path: ${join(dir, 'data')}}\n`;
const keyring = `sealed: true\nkeyring: {active: k1, keys: [{id: k1, file: ${join(dir, 'k1.key')}}]}\n`;
const configs = {
  embedded,
  'cassandra-plain': cassandra + ns(''),
  cassandra: cassandra + ns(', conditional_writes: true'),
  'cassandra-sealed': cassandra + ns('_sealed') + keyring,
  'embedded-sealed': embedded + keyring,
};
writeFileSync(join(dir, 'k1.key'), randomBytes(32), { mode: 0o600 });
if (scenario !== 'floor' && !(scenario in configs)) throw new Error(`unknown scenario ${scenario}`);
if (!scenario.startsWith('embedded') && !isRunning(SINGLE)) {
  log('starting Cassandra (single node)…');
  await startNode(SINGLE);
}

function run(cmd, args, onJson) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: dir });
    let partial = '';
    child.stdout.on('data', (chunk) => {
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop();
      for (const line of lines) {
        try {
          onJson?.(JSON.parse(line), child);
        } catch {
          // not JSON
        }
      }
    });
    child.on('close', (code) => resolve(code));
    child.on('error', reject);
  });
}

const profDir = join(dir, 'prof');
let server;
// The server never outlives this script, whatever fails.
process.on('exit', () => server?.exitCode === null && server.kill('SIGKILL'));
const url = await new Promise((resolve, reject) => {
  if (scenario === 'floor') {
    server = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, join(root, 'benchmarks/floor-server.mjs'), KEYSPACE, 'sessions'], { stdio: ['ignore', 'pipe', 'inherit'] });
  } else {
    const file = join(dir, 'firkin.yaml');
    writeFileSync(file, `listen_port: 0\nlog_level: info\nworkers: 1\n${configs[scenario]}`, { mode: 0o600 });
    if (!scenario.startsWith('embedded')) spawnSyncFirkin(['schema', '--apply', '--config', file]);
    server = spawn(process.execPath, [...V8_FLAGS, '--cpu-prof', `--cpu-prof-dir=${profDir}`, join(root, 'bin/firkin.js'), 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  }
  server.once('exit', (code) => reject(new Error(`${scenario} exited ${code} before listening`)));
  let partial = '';
  server.stdout.on('data', (chunk) => {
    partial += chunk;
    for (const line of partial.split('\n').slice(0, -1)) {
      try {
        const u = JSON.parse(line).url;
        if (u) resolve(u);
      } catch {
        // not JSON
      }
    }
    partial = partial.slice(partial.lastIndexOf('\n') + 1);
  });
});

function spawnSyncFirkin(args) {
  const r = spawnSync(process.execPath, [join(root, 'bin/firkin.js'), ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`firkin ${args.join(' ')} exited ${r.status}`);
}

log(`${scenario} at ${url}; prefilling…`);
await run(loadgen, ['-url', `${url}/sessions/v1/`, '-workload', 'prefill', '-c', '32']);
let result;
// The measured window on the monotonic clock, which V8's profile timestamps also use (Linux):
// start-up, the warm-up and shutdown are left out.
const window = { start: 0n, end: 0n };
log(`${workload} at ${rateArg} req/s for ${secondsArg} s…`);
await run(
  loadgen,
  ['-url', `${url}/sessions/v1/`, '-workload', workload, '-c', '64', '-rate', rateArg, '-d', `${secondsArg}s`, '-warmup', '2s', '-phases', ...(scenario === 'cassandra' || scenario.startsWith('embedded') ? [] : ['-conditional=false'])],
  (line) => {
    if (line.phase === 'measure') window.start = process.hrtime.bigint() / 1000n;
    else if (!line.phase) {
      window.end = process.hrtime.bigint() / 1000n;
      result = line;
    }
  },
);
server.kill('SIGINT');
await new Promise((r) => server.once('exit', r));
const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
const profile = JSON.parse(readFileSync(join(profDir, file), 'utf8'));
rmSync(dir, { recursive: true, force: true });

// Self time per node: samples × their intervals.
if (window.start === 0n || window.end === 0n) throw new Error('the load generator never said when the measured window started or ended');
const dt = new Map();
let at = BigInt(profile.startTime);
for (let i = 0; i < profile.samples.length; i++) {
  at += BigInt(profile.timeDeltas[i]);
  if (at < window.start || at > window.end) continue;
  const id = profile.samples[i];
  dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
}
const byFn = new Map();
const byFile = new Map();
let total = 0;
for (const node of profile.nodes) {
  const us = dt.get(node.id) ?? 0;
  const { functionName, url: u, lineNumber } = node.callFrame;
  if (functionName === '(idle)') continue;
  total += us;
  const where = u ? (u.startsWith('file://') ? relative(root, fileURLToPath(u)) : u) : '';
  const fileKey = where.includes('node_modules/') ? where.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, 'node_modules/$1') : where || functionName;
  const fnKey = `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
  byFn.set(fnKey, (byFn.get(fnKey) ?? 0) + us);
  byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
}
const requests = result?.requests ?? 0;
const per1k = (us) => ((us / 1000 / requests) * 1000).toFixed(2);
const top = (m, n) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
process.stdout.write(
  `${scenario} ${workload}: ${requests} requests at ${result?.rps?.toFixed(0)} req/s, p50 ${result?.latency_ms?.p50?.toFixed(2)} ms, p99 ${result?.latency_ms?.p99?.toFixed(2)} ms; ` +
    `main thread busy ${per1k(total)} ms per 1 000 requests (profile, self time)\n\nby file (ms per 1 000 requests)\n`,
);
for (const [k, us] of top(byFile, 25)) process.stdout.write(`${per1k(us).padStart(8)}  ${k}\n`);
process.stdout.write('\nby function\n');
for (const [k, us] of top(byFn, 40)) process.stdout.write(`${per1k(us).padStart(8)}  ${k}\n`);
