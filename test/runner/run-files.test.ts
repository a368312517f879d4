/**
 * The test runner itself (scripts/run-files.mjs, what `npm test` and `npm run test:unit`
 * run every file with): a file that hangs is killed after its whole-file limit, with the
 * processes it started, and named with the test it was running; a file that only leaves a
 * handle open is killed too; the run fails, and returns within a bound. The files it runs
 * are fixtures (test/fixtures/*.fixture.ts), which no tier runs by themselves.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const fixture = (name: string): string => join('dist', 'test', 'fixtures', `${name}.fixture.js`);

/** Whether `pid` runs (a zombie, killed and not yet reaped by its new parent, does not). */
const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

describe('the test runner (scripts/run-files.mjs)', () => {
  it('kills a hanging file after its limit and names the file and the test that was running', async () => {
    const pids = tempDir();
    const started = Date.now();
    const child = spawn(
      process.execPath,
      ['scripts/run-files.mjs', '--timeout', '3', '--grace', '2', '--concurrency', '3', fixture('hang'), fixture('leak'), fixture('pass')],
      { cwd: ROOT, env: { ...process.env, FIRKIN_FIXTURE_PIDS: pids }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    const tookS = (Date.now() - started) / 1000;

    assert.notEqual(code, 0, output);
    assert.ok(tookS < 15, `returned in ${tookS} s (limit 3 s, SIGKILL 2 s later)`);
    assert.match(output, /test file dist\/test\/fixtures\/hang\.fixture\.js killed after 3 s; still running: "a hanging suite > waits forever on an open server"/);
    assert.match(output, /test file dist\/test\/fixtures\/leak\.fixture\.js killed after 3 s; still running: no test \(its tests had ended/);
    assert.doesNotMatch(output, /pass\.fixture\.js killed/);
    // And again in the recap at the end.
    assert.match(output, /\nfailed: dist\/test\/fixtures\/hang\.fixture\.js: a hanging suite > waits forever on an open server\n {4}killed after 3 s \(its whole-file limit\)\n/);
    assert.match(output, /\nfailed: dist\/test\/fixtures\/leak\.fixture\.js: no test \(its tests had ended/);
    assert.match(output, /^tests: 3 passed, 2 failed, 1 skipped$/m, 'the counts: passed, the killed file’s running test and the leaking file, skipped');
    // Each file's output whole, not interleaved: the passing suite's lines are together.
    assert.match(output, /▶ a passing suite\n\s+✔ passes[^\n]*\n\s+﹣ is skipped/);

    // The killed file's process group went with it: its test process and the child that one started.
    const [testPid, grandchild] = readFileSync(join(pids, 'hang.pids'), 'utf8').trim().split(' ').map(Number);
    await until(() => !alive(testPid!) && !alive(grandchild!), 'the test process and the process it started to be gone', 3000);
  });

  it('recaps each failed test last, named with its suites and file, with the first lines of its reason', async () => {
    const child = spawn(process.execPath, ['scripts/run-files.mjs', '--timeout', '30', fixture('pass'), fixture('fail')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.equal(code, 1, output);
    // After every file's own output, just above the summary: the failed test and why (its message's lines indented).
    // After every file's own output, just above the summary: each failure and why (its message's lines indented).
    const recap = output.slice(output.indexOf('\nfailed: '));
    assert.match(
      recap,
      /^\nfailed: dist\/test\/fixtures\/fail\.fixture\.js: a failing suite > an inner suite > fails with a reason\n {4}the reason it failed\n {4}its second line\n(?: {4}.*\n)*/,
      output,
    );
    // A hook's failure is recapped with its own reason, beside the tests it cancelled (named under their suite).
    assert.match(recap, /\nfailed: dist\/test\/fixtures\/fail\.fixture\.js: a suite whose hook fails\n {4}the hook’s reason\n/, output);
    assert.match(recap, /\nfailed: dist\/test\/fixtures\/fail\.fixture\.js: a suite whose hook fails > never runs\n/, output);
    assert.match(recap, /\nrun-files: 2 files in [\d.]+ s; failed: dist\/test\/fixtures\/fail\.fixture\.js\ntests: 2 passed, 2 failed, 1 skipped\n$/, output);
    assert.equal(output.match(/^failed: /gm)?.length, 3, 'neither the passing tests nor the suites that failed only through their tests are recapped');
  });
});
