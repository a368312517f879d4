/**
 * Firkin's V8 flags (src/runtime-flags.ts) are on every command line that starts it:
 * the `firkin` command's #! line, `npm start`, and the workers the primary forks,
 * even when the primary itself was started without them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { V8_FLAGS, withV8Flags } from '../../src/runtime-flags.js';
import { FIRKIN_BIN, spawnFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const PACKAGE = new URL('../../../package.json', import.meta.url);

describe('V8 flags', () => {
  it('are on the #! line of bin/firkin.js and in npm start', () => {
    const shebang = readFileSync(FIRKIN_BIN, 'utf8').split('\n')[0];
    assert.equal(shebang, `#!/usr/bin/env -S node ${V8_FLAGS.join(' ')}`);
    const start = (JSON.parse(readFileSync(PACKAGE, 'utf8')) as { scripts: { start: string } }).scripts.start;
    assert.match(start, new RegExp(`&& node ${V8_FLAGS.join(' ')} bin/firkin\\.js serve$`));
  });

  it('are added to a worker command line that lacks them, never overriding one given', () => {
    assert.deepEqual(withV8Flags([]), [...V8_FLAGS]);
    assert.deepEqual(withV8Flags(['--max-semi-space-size=2', '--enable-source-maps']), ['--max-semi-space-size=2', '--enable-source-maps']);
    assert.deepEqual(withV8Flags(['--max_semi_space_size=16']), ['--max_semi_space_size=16']);
  });

  it('reach the workers of a primary started without them', async () => {
    const f = await spawnFirkin(tempDir(), { embedded: { path: 'data' }, workers: 2 });
    try {
      let pids: string[] = [];
      await until(() => {
        try {
          pids = execFileSync('pgrep', ['-P', String(f.child.pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
        } catch {
          pids = []; // pgrep exits 1 when there are none
        }
        return pids.length === 2;
      }, 'two workers');
      const primary = readFileSync(`/proc/${f.child.pid}/cmdline`, 'utf8').split('\0');
      for (const flag of V8_FLAGS) assert.ok(!primary.includes(flag), 'the test starts the primary without the flags');
      for (const pid of pids) {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        for (const flag of V8_FLAGS) assert.ok(args.includes(flag), `worker ${pid} runs with ${flag}: ${args.join(' ')}`);
      }
    } finally {
      f.child.kill('SIGTERM');
      assert.equal(await f.exited, 0);
    }
  });
});
