#!/usr/bin/env node
// `npm test` (after compiling): every test. It starts the real Cassandra nodes the
// tests need (tools/cassandra), runs every compiled test file (dist/test/**/*.test.js)
// with node:test, then the attack suite (dist/test/attacks, one file at a time), then
// the fault-injection suite (dist/test/**/*.fault.js, one file at a time: they kill,
// freeze and restart nodes), and stops the nodes this run started.
// Nodes already running are reused and left running.
// `--faults` (npm run test:faults): the fault-injection suite alone.
// Other arguments go to `node --test` (e.g. --test-name-pattern).
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const { CLUSTER, FAULT_CLUSTER, SERIAL_CLUSTER, SINGLE, isRunning, startNode, stopNode } = await import(join(root, 'dist/tools/cassandra/node.js'));
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

// A test that runs away fails after 30 minutes instead of holding CI until its limit.
const isAttack = (f) => f.startsWith(join(dir, 'attacks') + '/');
const phases = [
  ...(onlyFaults
    ? []
    : [
        { name: 'tests', files: filesEnding('.test.js').filter((f) => !isAttack(f)), nodeArgs: ['--test-timeout=1800000'], cluster: true },
        // The attack suite (test/attacks) times legitimate requests during each attack: one file at a
        // time, with the two-DC cluster stopped, so that nothing else competes for the two cores.
        { name: 'attack suite', files: filesEnding('.test.js').filter(isAttack), nodeArgs: ['--test-timeout=600000', '--test-concurrency=1'], cluster: false },
      ]),
  // The fault files start the four-node FAULT_CLUSTER (and SERIAL_CLUSTER) themselves; the two-DC cluster idles meanwhile, so it is stopped first.
  { name: 'fault suite', files: filesEnding('.fault.js'), nodeArgs: ['--test-timeout=1800000', '--test-concurrency=1'], cluster: false },
];

// Nodes this run starts (or a fault test starts: the fault cluster) are stopped at the end.
const ours = [SINGLE, ...CLUSTER].filter((n) => !isRunning(n));
const stopOurs = (which = [...ours, ...FAULT_CLUSTER, ...SERIAL_CLUSTER]) => Promise.all(which.map((n) => stopNode(n)));
let child;
const interrupted = (code) => {
  child?.kill('SIGTERM');
  void stopOurs().then(() => process.exit(code));
};
process.on('SIGINT', () => interrupted(130));
process.on('SIGTERM', () => interrupted(143));

let status = 0;
try {
  for (const phase of phases) {
    const started = Date.now();
    await startNode(SINGLE);
    if (phase.cluster) await startCluster();
    else await stopOurs(ours.filter((n) => CLUSTER.includes(n)));
    console.error(`${phase.name}: Cassandra test nodes ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // Asynchronously, so this process keeps reaping the Cassandra JVMs it started (tests kill some).
    child = spawn(process.execPath, ['--test', ...args, ...phase.nodeArgs, ...phase.files], { stdio: 'inherit', cwd: root });
    const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
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
