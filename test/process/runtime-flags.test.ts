/**
 * Firkin's V8 flags (src/runtime-flags.ts) are on every command line that starts it:
 * the `firkin` command (bin/firkin), `npm start`, and the workers the primary forks,
 * even when the primary itself was started without them; and a value the operator
 * gives (command line or NODE_OPTIONS) wins.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { V8_FLAGS, withV8Flags } from '../../src/runtime-flags.js';
import { FIRKIN_BIN, spawnFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const PACKAGE = new URL('../../../package.json', import.meta.url);
const COMMAND = join(dirname(FIRKIN_BIN), 'firkin');
/** The `node` the tests run on first on PATH, as it is for an installed `firkin`. */
const PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;

function children(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when there are none
  }
}

/** A process's arguments before its script (bin/firkin.js): the ones node and V8 read. */
function nodeArgs(pid: number): string[] {
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const script = args.findIndex((a) => a.endsWith('firkin.js'));
  assert.ok(script > 0, `a Firkin process: ${args.join(' ')}`);
  return args.slice(1, script);
}

describe('V8 flags', () => {
  it('are in npm start, and the firkin command is bin/firkin', () => {
    const pkg = JSON.parse(readFileSync(PACKAGE, 'utf8')) as { bin: { firkin: string }; scripts: { start: string } };
    assert.equal(pkg.bin.firkin, 'bin/firkin');
    assert.match(pkg.scripts.start, new RegExp(`&& node ${V8_FLAGS.join(' ')} bin/firkin\\.js serve$`));
  });

  it('are added to a worker command line that lacks them, never overriding one given', () => {
    assert.deepEqual(withV8Flags([], ''), [...V8_FLAGS]);
    assert.deepEqual(withV8Flags(['--max-semi-space-size=2', '--enable-source-maps'], ''), ['--max-semi-space-size=2', '--enable-source-maps']);
    assert.deepEqual(withV8Flags(['--max_semi_space_size=16'], ''), ['--max_semi_space_size=16']);
    assert.deepEqual(withV8Flags([], '--enable-source-maps --max-semi-space-size=16'), []);
  });

  it('start the firkin command, before its script, unless NODE_OPTIONS sets them', async () => {
    for (const [nodeOptions, expected] of [['', V8_FLAGS], ['--max-semi-space-size=16', []]] as const) {
      const dir = tempDir();
      writeFileSync(join(dir, 'config.yaml'), 'listen_port: 0\nworkers: 1\nembedded: {path: data}\n', { mode: 0o600 });
      const child = spawn(COMMAND, ['serve', '--config', 'config.yaml'], { cwd: dir, env: { ...process.env, PATH, NODE_OPTIONS: nodeOptions }, stdio: 'ignore' });
      try {
        // Until the shell has become node (same pid).
        let args: string[] | undefined;
        await until(() => {
          try {
            args = nodeArgs(child.pid!);
            return true;
          } catch {
            return false;
          }
        }, 'the shell to exec node');
        assert.deepEqual(args, [...expected], `NODE_OPTIONS=${nodeOptions}`);
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    }
    assert.equal(execFileSync(COMMAND, ['--version'], { env: { ...process.env, PATH }, encoding: 'utf8' }).trim(), (JSON.parse(readFileSync(PACKAGE, 'utf8')) as { version: string }).version);
  });

  it('reach the workers of a primary started without them', async () => {
    const f = await spawnFirkin(tempDir(), { embedded: { path: 'data' }, workers: 2 });
    try {
      let pids: number[] = [];
      await until(() => (pids = children(f.child.pid!)).length === 2, 'two workers');
      for (const flag of V8_FLAGS) assert.ok(!nodeArgs(f.child.pid!).includes(flag), 'the test starts the primary without the flags');
      for (const pid of pids) assert.deepEqual(nodeArgs(pid).filter((a) => V8_FLAGS.includes(a)), [...V8_FLAGS], `worker ${pid}`);
    } finally {
      f.child.kill('SIGTERM');
      assert.equal(await f.exited, 0);
    }
  });
});
