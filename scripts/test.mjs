#!/usr/bin/env node
// `npm test` (after scripts/prerequisites.mjs and the build): every test. It starts the real
// Cassandra nodes the tests need (tools/cassandra), runs every compiled test file
// (dist/test/**/*.test.js, and the workspace packages' packages/*/dist/test/**/*.test.js) on
// Cassandra 5.0, then the Cassandra suites again on Cassandra 4.1 (CASSANDRA_41_SUITES, with
// FIRKIN_TEST_CASSANDRA=4.1), then the attack suite (dist/test/attacks, one file at a time),
// then the fault-injection suite (dist/test/**/*.fault.js, one file at a time: they kill,
// freeze and restart nodes, on 5.0), and stops the nodes this run started.
// Nodes already running are reused and left running.
// Each file runs in a `node --test` of its own under a whole-file time limit (10 min; fault
// files 30 min; FIRKIN_TEST_FILE_TIMEOUT_S=N sets it for all): one that has not ended by then
// is killed with the processes it started, and named with the tests it was running
// (scripts/run-files.mjs).
// `--faults` (npm run test:faults): the fault-injection suite alone.
// `--unit` (npm run test:unit): the fast tier alone (scripts/test-files.mjs says which files),
// with no Cassandra node started or stopped.
// `--list`: print the phases and their files, and run nothing.
// Other arguments go to each `node --test` (e.g. --test-name-pattern).
// The programs scripts/prerequisites.mjs provisioned (~/.cache/firkin/debian/bin) come first
// on the tests' PATH. Everything runs on Node.js 24 (scripts/node-runtime.mjs fetches it when
// this `node` is older).
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, join } from 'node:path';
import { runOnPrimaryNode } from './node-runtime.mjs';
import { DEBIAN_BIN } from './prerequisites.mjs';
import { failureRecap, runFiles } from './run-files.mjs';
import { fullOnlyReason, testFiles } from './test-files.mjs';

await runOnPrimaryNode(import.meta.url);
console.error(`tests run on Node.js ${process.version}`);

const root = new URL('..', import.meta.url).pathname;
const dir = join(root, 'dist', 'test');
const onlyFaults = process.argv.includes('--faults');
const unitTier = process.argv.includes('--unit');
const listOnly = process.argv.includes('--list');
const args = process.argv.slice(2).filter((a) => !['--faults', '--unit', '--list'].includes(a));
const listPhases = (phases) => {
  for (const p of phases) console.log(`${p.name} (${p.files.length} files, ${p.concurrency} at a time, ${p.timeoutS} s each):\n${p.files.map((f) => `  ${f.slice(root.length)}`).join('\n')}`);
  process.exit(0);
};
const found = testFiles(root);
// test:faults builds the server only: the packages' tests are not needed then.
const expected = onlyFaults ? { faults: found.faults } : unitTier ? { tests: found.tests, packages: found.packages } : found;
for (const [kind, files] of Object.entries(expected)) {
  if (files.length === 0) {
    console.error(`no ${kind} test files found under dist/test or packages/*/dist/test: did the build run?`);
    process.exit(1);
  }
}
const env = existsSync(DEBIAN_BIN) ? { ...process.env, PATH: `${DEBIAN_BIN}${delimiter}${process.env.PATH ?? ''}` } : process.env;
/** The whole-file limit of a phase, in seconds (FIRKIN_TEST_FILE_TIMEOUT_S overrides every phase's). */
const fileLimit = (seconds) => Number(process.env.FIRKIN_TEST_FILE_TIMEOUT_S) || seconds;
/** As node --test's own default. */
const CONCURRENCY = Math.max(1, availableParallelism() - 1);

const abort = new AbortController();
const totals = { passed: 0, failed: 0, skipped: 0, failures: [] };
/** Run one phase's files; resolves with whether they all passed. */
async function runPhase(phase, started = Date.now()) {
  const { FIRKIN_TEST_CASSANDRA: _, ...base } = env; // the phase says which line, not the caller's shell
  const r = await runFiles(phase.files, {
    nodeArgs: [...args, ...phase.nodeArgs],
    concurrency: phase.concurrency ?? 1,
    timeoutS: phase.timeoutS,
    env: { ...base, ...phase.env },
    cwd: root,
    signal: abort.signal,
  });
  totals.passed += r.passed;
  totals.failed += r.failed;
  totals.skipped += r.skipped;
  totals.failures.push(...r.failures.map((f) => ({ ...f, phase: phase.name })));
  const ok = r.failed === 0 && r.failedFiles.length === 0;
  console.error(
    `${phase.name}: ${abort.signal.aborted ? 'INTERRUPTED' : ok ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s: ${r.ran} of ${r.files} files, ${r.passed} tests passed, ${r.failed} failed, ${r.skipped} skipped` +
      (r.failedFiles.length > 0 ? `; failed files: ${r.failedFiles.join(', ')}` : ''),
  );
  const slowest = Object.entries(r.seconds).sort((a, b) => b[1] - a[1]).slice(0, 5);
  if (slowest.length > 0) console.error(`${phase.name}: slowest files: ${slowest.map(([f, t]) => `${f} ${t.toFixed(1)} s`).join(', ')}`);
  return ok;
}
// On stdout, last: each failed test again with its reason (a long run's log is read from its end),
// then the line that sums up the whole run.
const closingLine = () => {
  process.stdout.write(failureRecap(totals.failures));
  console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
};

if (unitTier) {
  // The fast tier: no Cassandra node is started, stopped or even looked at.
  let interrupted = 0;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
    process.on(signal, () => {
      interrupted ||= code;
      abort.abort();
    });
  }
  const files = [...found.tests, ...found.packages].filter((f) => fullOnlyReason(f, root) === undefined);
  // Two files at a time on two cores: with no Cassandra node beside them, its files mostly wait
  // on the servers they start (25 s instead of 42 s here).
  const phase = { name: 'fast tier', files, nodeArgs: ['--test-timeout=120000'], concurrency: availableParallelism(), timeoutS: fileLimit(120) };
  if (listOnly) listPhases([phase]);
  const ok = await runPhase(phase);
  closingLine();
  process.exit(interrupted || (ok ? 0 : 1));
}

const { CLUSTER, CLUSTER_41, FAULT_CLUSTER, SERIAL_CLUSTER, TRUNCATE_CLUSTER, SINGLE, SINGLE_41, isRunning, startNode, stopNode } = await import(
  join(root, 'dist/tools/cassandra/node.js')
);
const { startCluster } = await import(join(root, 'dist/tools/cassandra/cluster.js'));
const compiled = new Set([...found.tests, ...found.attacks]);

// The suites that run on Cassandra 4.1 as well: check-keys on a Kask table, conformance and
// Kask interoperability, lightweight transactions, authentication and TLS, the HTTP contract
// and MediaWiki on Cassandra, and the two data centres.
const CASSANDRA_41_SUITES = [
  'cli-check-keys.test.js',
  'storage/cassandra.test.js',
  'storage/cassandra-lwt.test.js',
  'storage/cassandra-secure.test.js',
  'api/cassandra-http.test.js',
  'api/contract.test.js',
  'api/mediawiki.test.js',
  'api/multi-dc.test.js',
  'api/multi-dc-serial.test.js',
].map((f) => join(dir, f));
const missing = CASSANDRA_41_SUITES.filter((f) => !compiled.has(f));
if (missing.length > 0) {
  console.error(`Cassandra 4.1 suites not found: ${missing.join(', ')}`);
  process.exit(1);
}

// A test that runs away fails after 30 minutes instead of holding CI until its limit; a whole
// file after 10 (a fault file after 30).
const phases = [
  ...(onlyFaults
    ? []
    : [
        {
          name: 'tests',
          files: [...found.tests, ...found.packages],
          nodeArgs: ['--test-timeout=1800000'],
          concurrency: CONCURRENCY,
          timeoutS: fileLimit(600),
          cluster: CLUSTER,
        },
        // The same suites on the Cassandra that production runs: its own single node and two-DC cluster.
        {
          name: 'tests on Cassandra 4.1',
          files: CASSANDRA_41_SUITES,
          nodeArgs: ['--test-timeout=1800000'],
          concurrency: CONCURRENCY,
          timeoutS: fileLimit(600),
          single: SINGLE_41,
          cluster: CLUSTER_41,
          env: { FIRKIN_TEST_CASSANDRA: '4.1' },
        },
        // The attack suite (test/attacks) times legitimate requests during each attack: one file at a
        // time, with the two-DC cluster stopped, so that nothing else competes for the two cores.
        { name: 'attack suite', files: found.attacks, nodeArgs: ['--test-timeout=600000'], concurrency: 1, timeoutS: fileLimit(600) },
      ]),
  // The fault files start the four-node FAULT_CLUSTER (and SERIAL_CLUSTER, TRUNCATE_CLUSTER) themselves; the two-DC cluster idles meanwhile, so it is stopped first.
  // A fault file may take 30 minutes, and longer with longer soaks (two soaks, one per engine).
  { name: 'fault suite', files: found.faults, nodeArgs: ['--test-timeout=1800000'], concurrency: 1, timeoutS: fileLimit(1800 + 2 * (Number(process.env.FIRKIN_SOAK_SECONDS) || 0)) },
];

if (listOnly) listPhases(phases);

// Nodes this run starts (or a fault test starts: the fault cluster) are stopped at the end.
const ours = [SINGLE, ...CLUSTER, SINGLE_41, ...CLUSTER_41].filter((n) => !isRunning(n));
const stopOurs = (which = [...ours, ...FAULT_CLUSTER, ...SERIAL_CLUSTER, ...TRUNCATE_CLUSTER]) => Promise.all(which.map((n) => stopNode(n)));
let stopping = false;
const interrupted = (code) => {
  if (stopping) return; // Ctrl-C arrives twice: from the terminal and forwarded by node-runtime.mjs
  stopping = true;
  abort.abort(); // the running test files, and the processes they started
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
    console.error(`${phase.name}: Cassandra test nodes ready in ${((Date.now() - started) / 1000).toFixed(1)} s; ${phase.files.length} files`);
    // Asynchronously (runFiles), so this process keeps reaping the Cassandra JVMs it started (tests kill some).
    const ok = await runPhase(phase, started);
    if (stopping) break;
    if (!ok) status = 1;
  }
} catch (err) {
  console.error(`cannot run the tests: ${err.message}`);
  status = 1;
} finally {
  await stopOurs();
}
if (!stopping) closingLine();
process.exit(status);
