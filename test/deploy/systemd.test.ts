/**
 * deploy/firkin.service: systemd accepts it (`systemd-analyze verify`, which needs
 * no running systemd; from the Debian package systemd, which `npm test` provisions
 * without root where the machine lacks it: scripts/prerequisites.mjs), its
 * sandbox is all there, and its command lines work with Firkin's CLI: ExecStart
 * serves the config docs/operations.md shows, ExecReload's signal reloads,
 * KillSignal drains and exits 0 within TimeoutStopSec; a refused damaged store (exit
 * 3) is not restarted, a data directory in use (exit 1) is.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { DEFAULTS } from '../../src/config/load.js';
import { request } from '../helpers/http.js';
import { FIRKIN_BIN, spawnFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const repoFile = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url));
const UNIT_TEXT = readFileSync(repoFile('deploy/firkin.service'), 'utf8');

/** The [Service] section's settings: each key's values in order (comments and other sections left out). */
function serviceSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    if (section !== 'Service') continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq).trim();
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return settings;
}

const SETTINGS = serviceSettings(UNIT_TEXT);
/** A setting's value (the last assignment wins, as in systemd). */
const setting = (key: string): string | undefined => SETTINGS.get(key)?.at(-1);
/** A command line setting split into words (the unit uses no quoting). */
const words = (key: string): string[] => setting(key)!.split(/\s+/);

/** Run systemd-analyze; it must be there (never skip): `npm test` provisions it where the machine lacks it. */
function systemdAnalyze(args: string[], cwd: string): { status: number | null; output: string } {
  const run = spawnSync('systemd-analyze', args, { cwd, encoding: 'utf8' });
  if (run.error) assert.fail(`systemd-analyze cannot run (${run.error.message}): run the tests with npm test (it provisions it), or apt-get install -y systemd`);
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
}

const executable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
};
/**
 * ExecReload's program, /bin/kill (Debian's procps). On a machine without procps, the same
 * program from the same package stands in for it: the `kill` that `npm test` provisioned
 * (scripts/prerequisites.mjs), first on PATH.
 */
const RELOAD_PROGRAM = words('ExecReload')[0]!;
const RELOAD_HERE = executable(RELOAD_PROGRAM)
  ? RELOAD_PROGRAM
  : ((process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'kill')).find(executable) ?? RELOAD_PROGRAM);

/** The unit as systemd-analyze may check it here: ExecStart's program, not installed here, is this checkout's (and ExecReload's, RELOAD_HERE). */
function unitHere(dir: string, text = UNIT_TEXT): string {
  const file = join(dir, 'firkin.service');
  writeFileSync(
    file,
    text.replace(`ExecStart=${words('ExecStart')[0]} `, `ExecStart=${FIRKIN_BIN} `).replace(`ExecReload=${RELOAD_PROGRAM} `, `ExecReload=${RELOAD_HERE} `),
  );
  return file;
}

/** The YAML config shown in docs/operations.md's "Running under systemd": its text and what it says. */
function documentedConfig(): { text: string; config: Record<string, unknown> } {
  const docs = readFileSync(repoFile('docs/operations.md'), 'utf8');
  const section = docs.slice(docs.indexOf('## Running under systemd'));
  const yaml = /```yaml\n([\s\S]*?)```/.exec(section);
  assert.ok(yaml, 'docs/operations.md shows a config under "Running under systemd"');
  return { text: yaml[1]!, config: parse(yaml[1]!) as Record<string, unknown> };
}

describe('the systemd unit', () => {
  it('passes systemd-analyze verify without a single complaint, which would catch a misspelt setting', () => {
    const dir = tempDir();
    const verified = systemdAnalyze(['verify', unitHere(dir)], dir);
    assert.equal(verified.output, '', 'no warning at all');
    assert.equal(verified.status, 0);
    const misspelt = systemdAnalyze(['verify', unitHere(dir, UNIT_TEXT.replace('ProtectSystem=', 'ProtectSytem='))], dir);
    assert.match(misspelt.output, /Unknown key 'ProtectSytem'/, 'the check is not blind');
  });

  it('keeps its sandbox: every setting that confines Firkin is there, and systemd rates the exposure OK', () => {
    const expected: Record<string, string> = {
      User: 'firkin',
      Group: 'firkin',
      StateDirectory: 'firkin',
      StateDirectoryMode: '0700',
      UMask: '0077',
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectKernelLogs: 'yes',
      ProtectControlGroups: 'yes',
      RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
      RestrictNamespaces: 'yes',
      RestrictSUIDSGID: 'yes',
      SystemCallArchitectures: 'native',
      SystemCallFilter: '@system-service',
      CapabilityBoundingSet: '',
      KillSignal: 'SIGTERM',
      KillMode: 'mixed',
      Restart: 'on-failure',
      RestartPreventExitStatus: '2 3',
      ExecReload: '/bin/kill -HUP $MAINPID',
    };
    for (const [key, value] of Object.entries(expected)) assert.deepEqual(SETTINGS.get(key), [value], `${key}=${value}`);
    assert.equal(SETTINGS.get('AmbientCapabilities'), undefined, 'no capability unless a port below 1024 needs one (docs)');
    assert.equal(SETTINGS.get('DynamicUser'), undefined, 'a dedicated user (docs say why)');
    // The primary's own backstop: shutdown_delay_ms (default 0) + drain_timeout_ms + 5 s; systemd must not kill Firkin before it.
    assert.ok(Number(setting('TimeoutStopSec')) > (DEFAULTS.drainTimeoutMs + 5000) / 1000, 'TimeoutStopSec above the drain');
    assert.ok(Number(setting('LimitNOFILE')) > DEFAULTS.maxConnections, 'LimitNOFILE above max_connections');

    const dir = tempDir();
    const security = systemdAnalyze(['security', '--offline=yes', unitHere(dir)], dir);
    const level = /Overall exposure level for firkin\.service: ([\d.]+) (\w+)/.exec(security.output);
    assert.ok(level, security.output.slice(-500));
    assert.ok(['SAFE', 'OK'].includes(level[2]!), `exposure ${level[1]} ${level[2]}`);
  });

  it('does not restart a server that refused a damaged store (exit 3), and does restart one that found its directory in use (exit 1)', async () => {
    const prevented = setting('RestartPreventExitStatus')!.split(/\s+/).map(Number);
    assert.equal(setting('Restart'), 'on-failure');
    const dir = tempDir();
    const state = join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    const file = join(dir, 'config.yaml');
    writeFileSync(file, `listen_port: 0\nworkers: 1\nembedded:\n  path: ${state}\n`, { mode: 0o600 });
    const serve = (): ReturnType<typeof spawnSync> =>
      spawnSync(process.execPath, [FIRKIN_BIN, words('ExecStart')[1]!, '--config', file], { encoding: 'utf8', timeout: 20_000 });
    // A 0-byte data file: refused, and systemd must not restart it in a loop.
    writeFileSync(join(state, 'firkin.mdb'), '');
    const refused = serve();
    assert.equal(refused.status, 3, String(refused.stderr));
    assert.ok(prevented.includes(3), `RestartPreventExitStatus=${setting('RestartPreventExitStatus')} holds 3`);
    // The directory held by another instance: exit 1, which may pass, so systemd restarts it.
    rmSync(join(state, 'firkin.mdb'));
    const first = await spawnFirkin(dir, { workers: 1, embedded: { path: state } });
    const second = serve();
    assert.equal(second.status, 1, String(second.stderr));
    assert.ok(!prevented.includes(1), 'exit 1 is restarted');
    first.child.kill('SIGTERM');
    await first.exited;
  });

  it('creates its user from deploy/firkin.sysusers', () => {
    const root = tempDir();
    mkdirSync(join(root, 'etc'));
    const run = spawnSync('systemd-sysusers', [`--root=${root}`, repoFile('deploy/firkin.sysusers')], { encoding: 'utf8' });
    if (run.error) assert.fail(`systemd-sysusers cannot run (${run.error.message}): run the tests with npm test (it provisions it), or apt-get install -y systemd`);
    assert.equal(run.status, 0, run.stderr);
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    assert.match(passwd, new RegExp(`^${setting('User')}:x:\\d+:\\d+:[^:]*:/var/lib/${setting('StateDirectory')}:/usr/sbin/nologin$`, 'm'));
  });

  it("runs ExecStart's command line on the documented config, reloads on ExecReload's signal and drains on KillSignal", async () => {
    const start = words('ExecStart');
    assert.deepEqual(start.slice(1), ['serve', '--config', '/etc/firkin/config.yaml']);
    const { text, config } = documentedConfig();
    const embedded = config.embedded as { path: string };
    assert.equal(embedded.path, `/var/lib/${setting('StateDirectory')}`, 'the embedded engine in the state directory');

    // check-config with the same shape of command line: the documented config as it is.
    const dir = tempDir();
    const file = join(dir, 'config.yaml');
    writeFileSync(file, text, { mode: 0o600 });
    const withConfig = (configFile: string): string[] => start.slice(2).map((w) => (w === '/etc/firkin/config.yaml' ? configFile : w));
    const checked = spawnSync(process.execPath, [FIRKIN_BIN, 'check-config', ...withConfig(file)], { encoding: 'utf8' });
    assert.equal(checked.status, 0, checked.stderr);
    assert.equal(checked.stderr, '', 'no warning');

    // serve: the state directory as systemd makes it (0700), two workers behind the primary, on a free port.
    const state = join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    const f = await spawnFirkin(
      dir,
      { ...config, listen_address: '127.0.0.1', listen_port: 0, workers: 2, embedded: { ...embedded, path: state } },
      { configMode: 0o600, args: (configFile) => [start[1]!, ...withConfig(configFile)] },
    );
    assert.equal((await request(`${f.url}/sessions/v1/systemd:0123456789`, { method: 'PUT', body: 'v' })).status, 201);

    const said = (msg: string): number => f.stdout.filter((l) => (JSON.parse(l) as { msg?: string }).msg === msg).length;
    // A worker still starting has nothing to reload yet (it is reading its files afresh): wait for both.
    await until(() => said('listening') === 2, 'both workers listening');
    const pid = String(f.child.pid);
    const reload = words('ExecReload').map((w, i) => (i === 0 ? RELOAD_HERE : w === '$MAINPID' ? pid : w));
    assert.equal(spawnSync(reload[0]!, reload.slice(1)).status, 0, reload.join(' '));
    await until(() => said('log destination re-opened') === 2, 'each worker re-opening its log');
    assert.equal((await request(`${f.url}/readyz`)).status, 200, 'still serving after the reload');

    const stopped = Date.now();
    f.child.kill(setting('KillSignal') as NodeJS.Signals);
    assert.equal(await f.exited, 0);
    const tookS = (Date.now() - stopped) / 1000;
    assert.ok(tookS < Number(setting('TimeoutStopSec')), `stopped in ${tookS} s`);
    assert.equal(statSync(state).mode & 0o777, 0o700, "the state directory keeps systemd's mode");
  });
});
