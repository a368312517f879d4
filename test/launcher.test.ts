/**
 * The `firkin` command on a Node.js older than `engines` allows: refused at once, in one
 * line naming the version it needs and the one it found, exit 2, before any of Firkin's
 * code (which needs Node.js 22.13) is loaded. Run with the machine's own `node` when it is
 * older (Debian 12's is 18, this machine's 20); the command as installed (bin/firkin, a
 * shell script running the first `node` on PATH) and bin/firkin.js run directly.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers/tmp.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SYSTEM_NODE = '/usr/bin/node';
const version = (node: string): string => spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
const older = (v: string): boolean => {
  const [major = 0, minor = 0] = v.split('.').map(Number);
  return major < 22 || (major === 22 && minor < 13);
};
const systemVersion = existsSync(SYSTEM_NODE) ? version(SYSTEM_NODE) : undefined;
const skip = systemVersion === undefined ? `no ${SYSTEM_NODE}` : older(systemVersion) ? false : `${SYSTEM_NODE} is Node.js ${systemVersion}, not older than 22.13`;

describe('the firkin command on an older Node.js', () => {
  const dir = tempDir();
  const config = join(dir, 'config.yaml');
  writeFileSync(config, 'listen_port: 0\nembedded:\n  path: data\n', { mode: 0o600 });
  const expected = (found: string): RegExp =>
    new RegExp(`^firkin: needs Node\\.js 22\\.13\\.0 or newer; this is Node\\.js ${found.replaceAll('.', '\\.')} \\(${SYSTEM_NODE}\\): [^\\n]*\\n$`);

  it('node bin/firkin.js serve: one line naming both versions, exit 2, nothing started', { skip }, () => {
    const r = spawnSync(SYSTEM_NODE, [join(root, 'bin', 'firkin.js'), 'serve', '--config', config], { cwd: dir, encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, expected(systemVersion!));
    assert.equal(r.stdout, '', 'no log line: the service did not start');
    assert.equal(existsSync(join(dir, 'data')), false, 'no data directory was created');
  });

  it('bin/firkin (the installed command) with that node first on PATH: the same', { skip }, () => {
    const r = spawnSync(join(root, 'bin', 'firkin'), ['check-config', '--config', config], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 10_000,
      env: { ...process.env, PATH: `/usr/bin:${process.env.PATH ?? ''}` },
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, expected(systemVersion!));
  });

  it('on this Node.js (24), the same command runs', () => {
    const r = spawnSync(process.execPath, [join(root, 'bin', 'firkin.js'), 'check-config', '--config', config], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /: ok \(storage embedded/);
  });
});
