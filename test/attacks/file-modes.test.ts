/**
 * Attack: other local users reading sessions at rest or the config. Firkin is
 * started with umask 000 (a careless unit file or shell), so only the modes it
 * asks for itself protect what it creates.
 *
 * Proves that the embedded data directory is created 0700 and every file in it
 * 0600 whatever the umask, and that a config file others can read (0644) is
 * reported at start-up with a WARNING line naming the config file, while one of
 * mode 0600 is not.
 */
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { Checks, figures, killService, logLines, StatusCounts, TEST_TIMEOUT_MS, walk } from './harness.js';

const octal = (mode: number): string => mode.toString(8).padStart(4, '0');

/** WARNING lines that speak of the config file. */
function configWarnings(lines: Record<string, unknown>[], file: string): Record<string, unknown>[] {
  return lines.filter((l) => l.level === 'WARNING' && (JSON.stringify(l).includes(file) || /config/i.test(JSON.stringify(l))));
}

describe('attack: files readable by other local users', () => {
  it('creates the data directory 0700 and its files 0600 under umask 000', { timeout: TEST_TIMEOUT_MS }, async () => {
    const dir = tempDir();
    const f = await spawnFirkin(dir, { embedded: { path: 'data' } }, { umask: 0o000, configMode: 0o600 });
    const statuses = new StatusCounts();
    statuses.add((await request(`${f.url}/sessions/v1/file-modes-key:0001`, { method: 'PUT', body: 'value at rest' })).status);
    statuses.add((await request(`${f.url}/sessions/v1/file-modes-key:0001`)).status);
    const data = join(dir, 'data');
    const dataMode = statSync(data).mode & 0o7777;
    const entries = walk(data);
    const wrong = entries.filter((e) => e.mode !== (e.isDir ? 0o700 : 0o600));
    figures('file-modes', {
      umask: '000',
      statuses: statuses.toString(),
      data_dir: octal(dataMode),
      entries: entries.map((e) => `${e.path.slice(data.length + 1)}${e.isDir ? '/' : ''}=${octal(e.mode)}`).join(','),
    });
    const checks = new Checks();
    checks.ok(statuses.get(201) === 1 && statuses.get(200) === 1, `PUT and GET answered ${statuses.toString()}`);
    checks.ok(dataMode === 0o700, `the data directory is ${octal(dataMode)}, not 0700`);
    checks.ok(entries.some((e) => !e.isDir), 'the data directory holds files after a write');
    checks.ok(wrong.length === 0, `not 0600 (files) or 0700 (directories): ${wrong.map((e) => `${e.path.slice(data.length + 1)} ${octal(e.mode)}`).join(', ')}`);
    await killService(f);
    checks.done();
  });

  it('warns at start-up about a config file others can read (0644), not about one of mode 0600', { timeout: TEST_TIMEOUT_MS }, async () => {
    const open = tempDir();
    const loose = await spawnFirkin(open, { embedded: { path: 'data' } }, { configMode: 0o644 });
    const closed = tempDir();
    const tight = await spawnFirkin(closed, { embedded: { path: 'data' } }, { configMode: 0o600 });
    await sleep(300); // a warning logged just after the listening line
    const looseWarnings = configWarnings(logLines(loose), join(open, 'config.yaml'));
    const tightWarnings = configWarnings(logLines(tight), join(closed, 'config.yaml'));
    figures('config-file-mode', {
      warnings_0644: looseWarnings.length,
      warnings_0600: tightWarnings.length,
      first_0644: looseWarnings[0] === undefined ? 'none' : String(looseWarnings[0].msg),
    });
    const checks = new Checks();
    checks.ok(looseWarnings.length >= 1, 'no WARNING line about the config file of mode 0644');
    checks.ok(tightWarnings.length === 0, `a WARNING about the config file of mode 0600: ${JSON.stringify(tightWarnings[0])}`);
    await killService(loose);
    await killService(tight);
    checks.done();
  });
});
