#!/usr/bin/env node
// `npm test` (after compiling): every test. It starts the real Cassandra nodes the
// tests need (tools/cassandra), runs every compiled test file (dist/test/**/*.test.js,
// and the workspace packages' packages/*/dist/test/**/*.test.js) with node:test on
// Cassandra 5.0, then the Cassandra suites again on Cassandra 4.1
// (CASSANDRA_41_SUITES, with FIRKIN_TEST_CASSANDRA=4.1), then the attack suite
// (dist/test/attacks, one file at a time), then the fault-injection suite
// (dist/test/**/*.fault.js, one file at a time: they kill, freeze and restart nodes,
// on 5.0), and stops the nodes this run started.
// Nodes already running are reused and left running.
// `--faults` (npm run test:faults): the fault-injection suite alone.
// Other arguments go to `node --test` (e.g. --test-name-pattern).
// Everything runs on Node.js 24 (scripts/node-runtime.mjs fetches it when this `node` is older).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runOnPrimaryNode } from './node-runtime.mjs';

await runOnPrimaryNode(import.meta.url);
console.error(`tests run on Node.js ${process.version}`);

const root = new URL('..', import.meta.url).pathname;
const { CLUSTER, CLUSTER_41, FAULT_CLUSTER, SERIAL_CLUSTER, TRUNCATE_CLUSTER, SINGLE, SINGLE_41, isRunning, startNode, stopNode } = await import(
  join(root, 'dist/tools/cassandra/node.js')
);
const { startCluster } = await import(join(root, 'dist/tools/cassandra/cluster.js'));

const dir = join(root, 'dist', 'test');
const onlyFaults = process.argv.includes('--faults');
const args = process.argv.slice(2).filter((a) => a !== '--faults');
const compiled = readdirSync(dir, { recursive: true }).map(String).sort();
const filesEnding = (suffix) => compiled.filter((f) => f.endsWith(suffix)).map((f) => join(dir, f));
if (filesEnding('.test.js').length === 0 || filesEnding('.fault.js').length === 0) {
  console.error('no test files found under dist/test: did the build run?');
  process.exit(1);
}

// The workspace packages' own tests (firkin-client, connect-firkin: `npm run build` builds them), in
// the first phase beside the server's: they start `firkin serve` from this tree themselves.
const { workspaces } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const packageTests = workspaces.flatMap((ws) => {
  const testDir = join(root, ws, 'dist', 'test');
  const files = existsSync(testDir) ? readdirSync(testDir, { recursive: true }).map(String).filter((f) => f.endsWith('.test.js')) : [];
  if (files.length === 0 && !onlyFaults) {
    console.error(`no test files found under ${testDir}: did the build run?`);
    process.exit(1);
  }
  return files.sort().map((f) => join(testDir, f));
});

// The suites that run on Cassandra 4.1 as well: check-keys on a Kask table, conformance and
// Kask interoperability, lightweight transactions, authentication and TLS, the HTTP contract
// and MediaWiki on Cassandra, and the two data centres.
const CASSANDRA_41_SUITES = [
  'cli-check-keys.test.js',
  'storage/cassandra.test.js',
  'storage/cassandra-lwt.test.js',
  'storage/cassandra-secure.test.js',
  'server/cassandra-http.test.js',
  'server/contract.test.js',
  'server/mediawiki.test.js',
  'server/multi-dc.test.js',
  'server/multi-dc-serial.test.js',
].map((f) => join(dir, f));
const missing = CASSANDRA_41_SUITES.filter((f) => !compiled.includes(f.slice(dir.length + 1)));
if (missing.length > 0) {
  console.error(`Cassandra 4.1 suites not found: ${missing.join(', ')}`);
  process.exit(1);
}

// A test that runs away fails after 30 minutes instead of holding CI until its limit.
const isAttack = (f) => f.startsWith(join(dir, 'attacks') + '/');
const phases = [
  ...(onlyFaults
    ? []
    : [
        { name: 'tests', files: [...filesEnding('.test.js').filter((f) => !isAttack(f)), ...packageTests], nodeArgs: ['--test-timeout=1800000'], cluster: CLUSTER },
        // The same suites on the Cassandra that production runs: its own single node and two-DC cluster.
        {
          name: 'tests on Cassandra 4.1',
          files: CASSANDRA_41_SUITES,
          nodeArgs: ['--test-timeout=1800000'],
          single: SINGLE_41,
          cluster: CLUSTER_41,
          env: { FIRKIN_TEST_CASSANDRA: '4.1' },
        },
        // The attack suite (test/attacks) times legitimate requests during each attack: one file at a
        // time, with the two-DC cluster stopped, so that nothing else competes for the two cores.
        { name: 'attack suite', files: filesEnding('.test.js').filter(isAttack), nodeArgs: ['--test-timeout=600000', '--test-concurrency=1'] },
      ]),
  // The fault files start the four-node FAULT_CLUSTER (and SERIAL_CLUSTER, TRUNCATE_CLUSTER) themselves; the two-DC cluster idles meanwhile, so it is stopped first.
  { name: 'fault suite', files: filesEnding('.fault.js'), nodeArgs: ['--test-timeout=1800000', '--test-concurrency=1'] },
];

// Nodes this run starts (or a fault test starts: the fault cluster) are stopped at the end.
const ours = [SINGLE, ...CLUSTER, SINGLE_41, ...CLUSTER_41].filter((n) => !isRunning(n));
const stopOurs = (which = [...ours, ...FAULT_CLUSTER, ...SERIAL_CLUSTER, ...TRUNCATE_CLUSTER]) => Promise.all(which.map((n) => stopNode(n)));
let child;
let stopping = false;
const interrupted = (code) => {
  if (stopping) return; // Ctrl-C arrives twice: from the terminal and forwarded by node-runtime.mjs
  stopping = true;
  child?.kill('SIGTERM');
  void stopOurs().then(() => process.exit(code));
};
process.on('SIGINT', () => interrupted(130));
process.on('SIGTERM', () => interrupted(143));

let status = 0;
try {
  for (const phase of phases) {
    if (stopping) break; // interrupted: no further phase may start nodes
    const started = Date.now();
    // Each phase runs beside the nodes it needs only (two cores): the others this run started are stopped.
    const needed = [phase.single ?? SINGLE, ...(phase.cluster ?? [])];
    await stopOurs(ours.filter((n) => !needed.includes(n)));
    await startNode(phase.single ?? SINGLE);
    if (phase.cluster) await startCluster(undefined, phase.cluster);
    if (stopping) break;
    console.error(`${phase.name}: Cassandra test nodes ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // Asynchronously, so this process keeps reaping the Cassandra JVMs it started (tests kill some).
    const { FIRKIN_TEST_CASSANDRA: _, ...env } = process.env; // the phase says which line, not the caller's shell
    child = spawn(process.execPath, ['--test', ...args, ...phase.nodeArgs, ...phase.files], {
      stdio: 'inherit',
      cwd: root,
      env: { ...env, ...phase.env },
    });
    const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
    if (stopping) break;
    console.error(`${phase.name}: ${code === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    if (code !== 0) status = code;
  }
} catch (err) {
  console.error(`cannot run the tests: ${err.message}`);
  status = 1;
} finally {
  await stopOurs();
}
process.exit(status);
