/** The `firkin` command as an operator runs it: exit codes and messages. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers/tmp.js';

export const FIRKIN = fileURLToPath(new URL('../../bin/firkin.js', import.meta.url));

function firkin(...args: string[]) {
  const r = spawnSync(process.execPath, [FIRKIN, ...args], { encoding: 'utf8', timeout: 20_000, cwd: tempDir() });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('firkin command', () => {
  const dir = tempDir();
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'listen_port: 9999\nnamespaces:\n  - {name: a, base_uri: /a/}\n');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'listen_port: 9999\ndefault_ttl: -5\n');

  it('check-config accepts a good file with exit 0', () => {
    const r = firkin('check-config', '--config', good);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /good\.yaml: ok/);
  });

  it('check-config prints warnings on stderr and still accepts the file', () => {
    for (const name of ['cert.pem', 'key.pem', 'ca.pem']) writeFileSync(join(dir, name), 'not read by check-config');
    const warned = join(dir, 'warned.yaml');
    writeFileSync(
      warned,
      `tls: {cert: ${join(dir, 'cert.pem')}, key: ${join(dir, 'key.pem')}, ca: ${join(dir, 'ca.pem')}}\n` +
        'namespaces:\n  - name: a\n    base_uri: /a/\n    clients: [mediawiki]\n',
    );
    const r = firkin('check-config', '--config', warned);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /warned\.yaml: ok/);
    assert.match(r.stderr, /^firkin: warning: namespaces\.0\.clients\.0: "mediawiki" matches subject CN, SAN DNS and SAN URI alike/m);
    assert.match(r.stderr, /^firkin: warning: admin: .*so Prometheus can scrape \/metrics$/m);
  });

  it('check-config refuses a bad file with one line naming key and file, exit 2', () => {
    const r = firkin('check-config', '--config', bad);
    assert.equal(r.code, 2);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^firkin: config error in .*bad\.yaml: default_ttl: /);
  });

  it('serve refuses a bad file before listening, exit 2', () => {
    const r = firkin('serve', '--config', bad);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /default_ttl/);
    assert.equal(r.stdout, '', 'nothing was served or logged');
  });

  it('serve names a missing config file, exit 2', () => {
    const r = firkin('serve', '--config', join(dir, 'nope.yaml'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /nope\.yaml: cannot read the file \(ENOENT\)/);
  });

  it('refuses unknown commands and options with usage, exit 2', () => {
    assert.equal(firkin('frobnicate').code, 2);
    assert.equal(firkin('serve', '--no-such-option').code, 2);
    assert.equal(firkin().code, 2);
    assert.equal(firkin('check-config').code, 2, 'check-config needs --config');
  });

  it('prints its version', () => {
    const r = firkin('--version');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});
