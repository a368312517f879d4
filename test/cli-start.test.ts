/**
 * Starting Firkin without a trap: where the config comes from (--config, FIRKIN_CONFIG),
 * where it listens (--listen, FIRKIN_LISTEN, the file), where a relative embedded.path
 * lives ($STATE_DIRECTORY under systemd, else beside the config file), and a data
 * directory the running user cannot write refused by check-config and serve (as a user
 * that is not root: root writes anywhere).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { FIRKIN_BIN, runFirkin, spawnFirkin, type FirkinProcess } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';
import { unprivileged } from './helpers/unprivileged.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Run the firkin command with `env` added to this process's: exit code and output. */
function firkinWith(env: NodeJS.ProcessEnv, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [FIRKIN_BIN, ...args], { encoding: 'utf8', timeout: 20_000, cwd: tempDir(), env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const stop = async (f: FirkinProcess): Promise<void> => {
  f.child.kill('SIGTERM');
  await f.exited;
};

describe('the config file: --config, else FIRKIN_CONFIG', () => {
  const dir = tempDir();
  const fromEnv = join(dir, 'from-env.yaml');
  const fromFlag = join(dir, 'from-flag.yaml');
  writeFileSync(fromEnv, 'namespaces:\n  - {name: a, base_uri: /a/}\n  - {name: b, base_uri: /b/}\n', { mode: 0o600 });
  writeFileSync(fromFlag, 'namespaces:\n  - {name: a, base_uri: /a/}\n', { mode: 0o600 });

  it('check-config reads FIRKIN_CONFIG when --config is not given', () => {
    const r = firkinWith({ FIRKIN_CONFIG: fromEnv }, 'check-config');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /from-env\.yaml: ok \(storage embedded, data in .*, 2 namespace\(s\)\)/);
  });

  it('--config wins over FIRKIN_CONFIG', () => {
    const r = firkinWith({ FIRKIN_CONFIG: fromEnv }, 'check-config', '--config', fromFlag);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /from-flag\.yaml: ok .*1 namespace\(s\)/);
  });

  it('a FIRKIN_CONFIG naming no file is the same error as --config would be, exit 2', () => {
    const r = firkinWith({ FIRKIN_CONFIG: join(dir, 'absent.yaml') }, 'serve');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^firkin: config error in .*absent\.yaml: cannot read the file \(ENOENT\)\n$/);
  });

  it('serve runs on the FIRKIN_CONFIG file', async () => {
    writeFileSync(join(dir, 'serve.yaml'), stringify({ listen_port: 0, workers: 1, embedded: { path: 'serve-data' }, namespaces: [{ name: 'envns', base_uri: '/envns/v1/' }] }), {
      mode: 0o600,
    });
    // spawnFirkin writes a config of its own (defaults) to its directory; only FIRKIN_CONFIG names serve.yaml.
    const f = await spawnFirkin(tempDir(), {}, { args: () => ['serve'], env: { ...process.env, FIRKIN_CONFIG: join(dir, 'serve.yaml') } });
    const listening = JSON.parse(f.stdout.find((l) => l.includes('"msg":"listening"'))!) as { namespaces: { name: string }[] };
    assert.deepEqual(listening.namespaces.map((n) => n.name), ['envns']);
    await stop(f);
  });
});

describe('where to listen: --listen, else FIRKIN_LISTEN, else the file', () => {
  const portOf = (url: string): number => Number(new URL(url).port);

  it('FIRKIN_LISTEN (HOST:PORT) overrides the file; --listen (PORT) overrides both', async () => {
    const [filePort, envPort, flagPort] = [await freePort(), await freePort(), await freePort()];
    const config = { listen_port: filePort, embedded: { path: 'data' } };
    const fromFile = await spawnFirkin(tempDir(), config);
    assert.equal(portOf(fromFile.url), filePort);
    await stop(fromFile);

    const env = { ...process.env, FIRKIN_LISTEN: `127.0.0.1:${envPort}` };
    const fromEnv = await spawnFirkin(tempDir(), config, { env });
    assert.equal(portOf(fromEnv.url), envPort);
    await stop(fromEnv);

    const fromFlag = await spawnFirkin(tempDir(), config, { env, args: (file) => ['serve', '--config', file, '--listen', String(flagPort)] });
    assert.equal(portOf(fromFlag.url), flagPort);
    assert.equal(new URL(fromFlag.url).hostname, '127.0.0.1', "a port alone keeps the file's (or the default) address");
    await stop(fromFlag);
  });

  it('--listen takes [IPv6]:PORT', async () => {
    const f = await spawnFirkin(tempDir(), { embedded: { path: 'data' } }, { args: (file) => ['serve', '--config', file, '--listen', '[::1]:0'] });
    assert.equal(new URL(f.url).hostname, '[::1]');
    await stop(f);
  });

  for (const [how, env, args] of [
    ['--listen', {}, ['--listen', 'localhost:99999']],
    ['FIRKIN_LISTEN', { FIRKIN_LISTEN: 'nowhere:' }, []],
  ] as const) {
    it(`a ${how} that is no address is a config error naming it, exit 2`, () => {
      const r = firkinWith(env, 'serve', ...args);
      assert.equal(r.code, 2);
      assert.equal(r.stderr, `firkin: config error in (built-in defaults): ${how}: must be PORT, HOST:PORT or [IPv6 address]:PORT, with a port 0–65535\n`);
    });
  }
});

describe('a relative embedded.path', () => {
  it('is beside the config file, not in the working directory', async () => {
    const cwd = tempDir();
    const configDir = tempDir();
    const file = join(configDir, 'firkin.yaml');
    writeFileSync(file, stringify({ listen_port: 0, workers: 1, embedded: { path: 'store' } }), { mode: 0o600 });
    const f = await spawnFirkin(cwd, {}, { args: () => ['serve', '--config', file] });
    const opened = JSON.parse(f.stdout.find((l) => l.includes('"msg":"embedded store opened"'))!) as { path: string };
    assert.equal(opened.path, join(configDir, 'store'));
    assert.ok(existsSync(join(configDir, 'store', 'firkin.mdb')));
    assert.ok(!existsSync(join(cwd, 'store')), 'nothing in the working directory');
    await stop(f);
  });

  it('is under $STATE_DIRECTORY when systemd sets it (StateDirectory=), whatever the working directory', async () => {
    const cwd = tempDir();
    const state = tempDir();
    const f = await spawnFirkin(cwd, { embedded: { path: 'store' } }, { env: { ...process.env, STATE_DIRECTORY: `${state}:/nonexistent/second` } });
    const opened = JSON.parse(f.stdout.find((l) => l.includes('"msg":"embedded store opened"'))!) as { path: string };
    assert.equal(opened.path, join(state, 'store'));
    assert.ok(existsSync(join(state, 'store', 'firkin.mdb')));
    assert.ok(!existsSync(join(cwd, 'store')), 'not beside the config file then');
    await stop(f);
    // check-config names the same directory.
    const r = firkinWith({ STATE_DIRECTORY: state }, 'check-config', '--config', join(cwd, 'config.yaml'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`data in ${join(state, 'store')},`));
  });
});

describe('a data directory this user cannot write', () => {
  const user = unprivileged();
  const skip = typeof user === 'string' ? user : false;

  /** A world-readable directory owned by root (as this test runs), for a config file and data directories. */
  const shared = (): string => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    return dir;
  };
  const writeConfig = (dir: string, embeddedPath: string): string => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, stringify({ listen_port: 0, workers: 1, embedded: { path: embeddedPath } }), { mode: 0o644 });
    return file;
  };
  const asUser = (...args: string[]): { code: number | null; stdout: string; stderr: string } => {
    if (typeof user === 'string') throw new Error(user);
    return user.run(...args);
  };

  it('check-config: an existing directory it cannot write, one line naming the key and the directory, exit 2', { skip }, () => {
    const dir = shared();
    mkdirSync(join(dir, 'data'), { mode: 0o755 });
    const r = asUser('check-config', '--config', writeConfig(dir, 'data'));
    assert.equal(r.code, 2, r.stdout);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0]!,
      new RegExp(`^firkin: config error in ${escape(join(dir, 'config.yaml'))}: embedded\\.path \\(${escape(join(dir, 'data'))}\\): is not writable by this user \\(.*uid ${typeof user === 'string' ? '' : user.uid}\\)\\): permission denied \\(EACCES\\)`),
    );
  });

  it('check-config: a directory it cannot create (its parent not writable), exit 2', { skip }, () => {
    const dir = shared();
    const r = asUser('check-config', '--config', writeConfig(dir, 'new/data'));
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr, new RegExp(`embedded\\.path \\(${escape(join(dir, 'new', 'data'))}\\): does not exist and cannot be created by this user .*: ${escape(dir)} is not writable \\(permission denied \\(EACCES\\)\\)`));
  });

  it('check-config: a store file it cannot write in a directory it can, exit 2', { skip }, () => {
    const dir = shared();
    const data = join(dir, 'data');
    mkdirSync(data, { mode: 0o700 });
    if (typeof user !== 'string') chownSync(data, user.uid, user.gid);
    writeFileSync(join(data, 'firkin.mdb'), '', { mode: 0o644 }); // root's
    const r = asUser('check-config', '--config', writeConfig(dir, 'data'));
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr, /embedded\.path \(.*\/data\/firkin\.mdb\): holds firkin\.mdb, which this user .* cannot read and write/);
  });

  it('check-config: a directory it owns, or can create, passes', { skip }, () => {
    const dir = shared();
    const data = join(dir, 'data');
    mkdirSync(data, { mode: 0o700 });
    if (typeof user !== 'string') chownSync(data, user.uid, user.gid);
    const owned = asUser('check-config', '--config', writeConfig(dir, 'data'));
    assert.equal(owned.code, 0, owned.stderr);
    const creatable = asUser('check-config', '--config', writeConfig(dir, 'data/sub/store'));
    assert.equal(creatable.code, 0, creatable.stderr);
  });

  it('serve refuses it the same way, exit 2, before listening', { skip }, () => {
    const dir = shared();
    mkdirSync(join(dir, 'data'), { mode: 0o755 });
    const r = asUser('serve', '--config', writeConfig(dir, 'data'));
    assert.equal(r.code, 2, r.stdout);
    assert.equal(r.stdout, '', 'nothing was served or logged');
    assert.match(r.stderr, /^firkin: config error in .*: embedded\.path \(.*\): is not writable by this user/);
  });

  it('a file where the directory should be, exit 2 (any user)', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'data'), 'not a directory');
    const r = runFirkin('check-config', '--config', writeConfig(dir, 'data'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /embedded\.path \(.*\/data\): is not a directory\n$/);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
