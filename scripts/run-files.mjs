// Runs test files with node:test, each in a `node --test FILE` of its own under a
// whole-file time limit: a file that has not ended by then (a hung test, an open handle
// that keeps it alive after its last test) is killed with every process it started
// (its process group: SIGTERM, then SIGKILL), reported as
//   test file dist/test/x.test.js killed after 600 s; still running: "suite > test"
// and counted as failed. Which tests were running comes from a second reporter
// (test-progress-reporter.mjs) that writes node:test's events to a file as they happen.
// Files run `concurrency` at a time; with more than one, each file's output is held
// and printed whole when it ends. Used by scripts/test.mjs and test/runner/run-files.test.ts.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const PROGRESS_REPORTER = pathToFileURL(fileURLToPath(new URL('./test-progress-reporter.mjs', import.meta.url))).href;

/** Read a progress file: which tests were still running, and the counts of finished ones. */
export function readProgress(file, testFile) {
  let lines = [];
  try {
    lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    // no event at all: the file never started its tests
  }
  const events = [];
  for (const line of lines) {
    try {
      events.push(JSON.parse(line));
    } catch {
      // the last line of a killed file may be cut short
    }
  }
  const own = events.filter((e) => e.own && e.name !== testFile);
  const counts = { passed: 0, failed: 0, skipped: 0 };
  const failures = [];
  for (const e of own) {
    // A suite's own failure (a hook's: its tests are then cancelled) is recapped, not counted;
    // a suite failing only because its tests did is neither.
    if (e.type === 'test:fail' && e.kind === 'suite' && e.failureType !== 'subtestsFailed' && e.failureType !== 'cancelledByParent') failures.push(e);
    if ((e.type !== 'test:pass' && e.type !== 'test:fail') || e.kind !== 'test') continue;
    if (e.type === 'test:fail') {
      counts.failed++;
      failures.push(e);
    } else if (e.skip || e.todo) counts.skipped++;
    else counts.passed++;
  }
  // Started (dequeued) and not yet complete, with their suites' names before theirs.
  const started = []; // in dequeue order: { name, nesting, id, parent, done }
  // Whether started test `s` is the one event `e` is about: by id (Node.js 24), else by place.
  const same = (s, e) => (e.id !== undefined ? s.id === e.id && s.parent === e.parent : s.name === e.name && s.nesting === e.nesting && s.line === e.line && s.column === e.column);
  for (const e of own) {
    if (e.type === 'test:dequeue') started.push({ ...e, done: false });
    else if (e.type === 'test:complete') {
      const match = started.find((s) => !s.done && same(s, e));
      if (match) match.done = true;
    }
  }
  const path = (index) => {
    const names = [started[index].name];
    let { nesting, parent } = started[index];
    for (let i = index - 1; i >= 0 && nesting > 0; i--) {
      const s = started[i];
      if (parent !== undefined ? s.id === parent && s.nesting === nesting - 1 : s.nesting === nesting - 1) {
        names.unshift(s.name);
        ({ nesting, parent } = s);
      }
    }
    return names.join(' > ');
  };
  const open = started.map((s, i) => ({ s, i })).filter(({ s }) => !s.done);
  // A suite is "running" while any of its tests is: name the innermost ones only.
  const running = open.filter(({ s, i }) => !open.some((o) => o.i > i && o.s.nesting > s.nesting && path(o.i).startsWith(`${path(i)} > `))).map(({ i }) => path(i));
  // A failed test named with its suites: from its own start, through path() above.
  const named = (f) => {
    const i = started.findIndex((s) => same(s, f));
    if (i !== -1) return path(i);
    // A test cancelled before it started (its suite's hook failed): named under its suite.
    const suite = f.parent === undefined ? -1 : started.findIndex((s) => s.id === f.parent && s.nesting === f.nesting - 1);
    return suite === -1 ? f.name : `${path(suite)} > ${f.name}`;
  };
  return { counts, running, started: started.length, failures: failures.map((f) => ({ test: named(f), error: f.error })) };
}

/**
 * Run `files` (absolute paths); resolves with { files, ran, passed, failed, skipped, failedFiles, failures ({ file, test, error }
 * of each failed test), seconds (each file's) }
 * once all have ended. Options: nodeArgs (for each `node --test`, e.g. --test-timeout), concurrency,
 * timeoutS (the whole-file limit), env, cwd, node (the node binary), killGraceS (SIGTERM to SIGKILL),
 * write (where output goes; default process.stdout), signal (an AbortSignal: kills the running files).
 */
export async function runFiles(files, options = {}) {
  const {
    nodeArgs = [],
    concurrency = 1,
    timeoutS = 600,
    env = process.env,
    cwd = process.cwd(),
    node = process.execPath,
    killGraceS = 5,
    write = (text) => process.stdout.write(text),
    signal,
  } = options;
  // A runner started from a test file (test/runner) must not look like one nested in it to node:test.
  const { NODE_TEST_CONTEXT: _, ...childEnv } = env;
  const scratch = mkdtempSync(join(tmpdir(), 'firkin-run-files-'));
  const total = { files: files.length, ran: 0, passed: 0, failed: 0, skipped: 0, failedFiles: [], failures: [], seconds: {} };
  const running = new Set(); // process groups of the files now running
  const killGroup = (pid, sig) => {
    try {
      process.kill(-pid, sig);
      return true;
    } catch {
      return false; // the group is gone
    }
  };
  const onAbort = () => {
    for (const pid of running) killGroup(pid, 'SIGTERM');
  };
  signal?.addEventListener('abort', onAbort);

  const runOne = async (file, index) => {
    const shown = relative(cwd, file) || file;
    const progressFile = join(scratch, `${index}.jsonl`);
    const buffered = concurrency > 1;
    const child = spawn(
      node,
      [
        '--test',
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        `--test-reporter=${PROGRESS_REPORTER}`,
        `--test-reporter-destination=${progressFile}`,
        ...nodeArgs,
        file,
      ],
      // Its own process group, so that the servers and daemons a test started die with it.
      { cwd, env: childEnv, detached: true, stdio: buffered ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'] },
    );
    let output = '';
    const closed = new Promise((r) => child.on('close', r));
    if (buffered) {
      child.stdout.on('data', (c) => (output += c));
      child.stderr.on('data', (c) => (output += c));
    }
    running.add(child.pid);
    const started = Date.now();
    let killedAfter;
    let killer;
    const limit = setTimeout(() => {
      killedAfter = Math.round((Date.now() - started) / 1000);
      killGroup(child.pid, 'SIGTERM');
      killer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), killGraceS * 1000);
    }, timeoutS * 1000);
    const code = await new Promise((resolve) => {
      child.on('error', (err) => {
        output += `cannot run ${node}: ${err.message}\n`;
        resolve(1);
      });
      child.on('exit', (c, s) => resolve(c ?? (s ? 128 : 1)));
    });
    clearTimeout(limit);
    // Whatever the file left behind in its group (it ended, or was killed) goes too.
    if (killGroup(child.pid, 0)) {
      killGroup(child.pid, 'SIGTERM');
      await new Promise((r) => setTimeout(r, 200));
      killGroup(child.pid, 'SIGKILL');
      if (killedAfter === undefined && !signal?.aborted) output += `(test file ${shown} left processes running: killed)\n`;
    }
    clearTimeout(killer);
    running.delete(child.pid);
    // The rest of its output (a process outside the group may hold the pipe: not for long).
    if (buffered) await Promise.race([closed, new Promise((r) => setTimeout(r, 5000).unref())]);

    const { counts, running: stillRunning, started: testsStarted, failures } = readProgress(progressFile, file);
    for (const f of failures) total.failures.push({ file: shown, ...f });
    if (killedAfter !== undefined) {
      const which =
        stillRunning.length > 0
          ? stillRunning.map((n) => JSON.stringify(n)).join(', ')
          : testsStarted === 0
            ? 'no test (the file never got past its top level)'
            : 'no test (its tests had ended: an after hook, or a handle left open, kept it alive)';
      output += `test file ${shown} killed after ${killedAfter} s; still running: ${which}\n`;
      counts.failed += Math.max(1, stillRunning.length);
      total.failures.push({ file: shown, test: stillRunning.join(', ') || which, error: `killed after ${killedAfter} s (its whole-file limit)` });
    } else if (code !== 0 && counts.failed === 0) {
      counts.failed += 1; // it failed outside any test (a syntax error, a failed import, an after hook)
      total.failures.push({ file: shown, test: '(outside any test)', error: `the file exited with code ${code}: its output above says why` });
    }
    if (output !== '') write(output.endsWith('\n') ? output : `${output}\n`);
    total.passed += counts.passed;
    total.failed += counts.failed;
    total.skipped += counts.skipped;
    if (code !== 0 || killedAfter !== undefined) total.failedFiles.push(shown);
    total.seconds[shown] = (Date.now() - started) / 1000;
    total.ran += 1;
  };

  try {
    let next = 0;
    const worker = async () => {
      while (next < files.length && !signal?.aborted) {
        const index = next++;
        await runOne(files[index], index);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, files.length)) }, worker));
  } finally {
    signal?.removeEventListener('abort', onAbort);
    rmSync(scratch, { recursive: true, force: true });
  }
  return total;
}

/**
 * Each failed test again, named with its suites and file, and the first lines of its
 * reason (at most `max` of them): what a run prints last, above its closing line, since a
 * long run's log is read from its end. `failures`: runFiles' (with `phase` where given).
 */
export function failureRecap(failures, max = 20) {
  const shown = failures.slice(0, max).map((f) => `failed: ${f.file}: ${f.test}${f.phase ? ` (phase: ${f.phase})` : ''}\n${(f.error ?? 'failed').trimEnd().replace(/^/gm, '    ')}\n`);
  if (failures.length > max) shown.push(`failed: ${failures.length - max} more (above)\n`);
  return shown.join('');
}

/** `node scripts/run-files.mjs [--timeout S] [--concurrency N] [--grace S] FILE...`: run files as `npm test` does. */
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const at = args.indexOf(name);
    if (at < 0) return fallback;
    const [, value] = args.splice(at, 2);
    return Number(value);
  };
  const timeoutS = option('--timeout', 600);
  const concurrency = option('--concurrency', 1);
  const killGraceS = option('--grace', 5);
  const started = Date.now();
  const r = await runFiles(args.map((f) => resolve(f)), { timeoutS, concurrency, killGraceS });
  process.stdout.write(failureRecap(r.failures));
  console.log(`run-files: ${r.files} files in ${((Date.now() - started) / 1000).toFixed(1)} s${r.failedFiles.length > 0 ? `; failed: ${r.failedFiles.join(', ')}` : ''}`);
  console.log(`tests: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
  process.exit(r.failed > 0 || r.failedFiles.length > 0 ? 1 : 0);
}
