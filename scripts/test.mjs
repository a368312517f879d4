#!/usr/bin/env node
// `npm test` (after compiling): start the real Cassandra nodes the tests need
// (tools/cassandra: a single node, and the two-data-centre cluster), run every
// compiled test file (dist/test/**/*.test.js) with node:test, then stop the
// nodes this run started. Nodes already running are reused and left running.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const { CLUSTER, SINGLE, isRunning, startNode, stopNode } = await import(join(root, 'dist/tools/cassandra/node.js'));
const { startCluster } = await import(join(root, 'dist/tools/cassandra/cluster.js'));

const dir = join(root, 'dist', 'test');
// `--faults` (npm run test:faults): the fault-injection suite (test/faults/*.fault.ts) instead.
const faults = process.argv.includes('--faults');
const args = process.argv.slice(2).filter((a) => a !== '--faults');
const files = readdirSync(dir, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith(faults ? '.fault.js' : '.test.js'))
  .sort()
  .map((f) => join(dir, f));
if (files.length === 0) {
  console.error('no test files found under dist/test: did the build run?');
  process.exit(1);
}

const nodes = [SINGLE, ...CLUSTER];
const ours = nodes.filter((n) => !isRunning(n));
const stopOurs = () => Promise.all(ours.map((n) => stopNode(n)));
process.on('SIGINT', () => void stopOurs().then(() => process.exit(130)));
process.on('SIGTERM', () => void stopOurs().then(() => process.exit(143)));

let status = 1;
try {
  const started = Date.now();
  await startNode(SINGLE);
  await startCluster();
  console.error(`cassandra: test nodes ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  // Asynchronously, so this process keeps reaping the Cassandra JVMs it started (tests kill some).
  const child = spawn(process.execPath, ['--test', ...(faults ? ['--test-concurrency=1'] : []), ...args, ...files], { stdio: 'inherit', cwd: root });
  status = await new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
} catch (err) {
  console.error(`cannot run the tests: ${err.message}`);
} finally {
  await stopOurs();
}
process.exit(status);
