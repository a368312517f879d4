/**
 * Running the `firkin` command as a user that is not root, as a service runs: root may
 * write any directory whatever its mode, so what a service user cannot do is only seen
 * as another user. When this process is root: the user `tester` if the machine has one,
 * else `nobody`, with a `node` it may run (this one, or a hard link to it, or a copy, in a
 * directory it can enter). When it is not root: this user itself.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, copyFileSync, linkSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FIRKIN_BIN } from './process.js';
import { tempDir } from './tmp.js';

export interface Unprivileged {
  readonly uid: number;
  readonly gid: number;
  /** Run `firkin ARGS` as this user (in /), to its end: exit code and output. */
  run(...args: string[]): { code: number | null; stdout: string; stderr: string };
}

let cached: Unprivileged | string | undefined;

/** The user, or why there is none to run as (a reason to skip). */
export function unprivileged(): Unprivileged | string {
  cached ??= find();
  return cached;
}

function find(): Unprivileged | string {
  const self = process.getuid?.();
  if (self === undefined) return 'no user ids on this platform';
  if (self !== 0) return runner(self, process.getgid!(), process.execPath);
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':'));
  const entry = passwd.find((f) => f[0] === 'tester') ?? passwd.find((f) => f[0] === 'nobody');
  const [uid, gid] = entry === undefined ? [65534, 65534] : [Number(entry[2]), Number(entry[3])];
  let node = process.execPath;
  if (!othersMayRun(node)) {
    const dir = tempDir('firkin-node-');
    chmodSync(dir, 0o755);
    node = join(dir, 'node');
    try {
      linkSync(process.execPath, node);
    } catch {
      copyFileSync(process.execPath, node);
      chmodSync(node, 0o755);
    }
  }
  const r = runner(uid, gid, node);
  // The work tree itself must be readable by that user (it is not under a private home directory, say).
  const probe = spawnSync(node, ['-e', `require('node:fs').accessSync(${JSON.stringify(FIRKIN_BIN)}, require('node:fs').constants.R_OK)`], { uid, gid, encoding: 'utf8' });
  if (probe.status !== 0) return `uid ${uid} cannot read ${FIRKIN_BIN} (or run ${node}): ${probe.stderr.trim().split('\n')[0] ?? ''}`;
  return r;
}

function runner(uid: number, gid: number, node: string): Unprivileged {
  return {
    uid,
    gid,
    run: (...args) => {
      const r = spawnSync(node, [FIRKIN_BIN, ...args], { uid, gid, cwd: '/', encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

/** Whether any user may run `file`: it is executable by others and every directory above it may be entered by them. */
function othersMayRun(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
  } catch {
    return false;
  }
  for (let path = file; ; path = dirname(path)) {
    if ((statSync(path).mode & 0o001) === 0) return false;
    if (dirname(path) === path) return true;
  }
}
