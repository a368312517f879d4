/** The `firkin` command as an operator runs it: exit codes and messages. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TestCa } from './helpers/pki.js';
import { runFirkin as firkin } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';

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
    const ca = new TestCa();
    const server = ca.server();
    const warned = join(dir, 'warned.yaml');
    writeFileSync(
      warned,
      `tls: {cert: ${server.cert}, key: ${server.key}, ca: ${ca.cert}}\n` +
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

  it('check-config and serve say a number key\'s range and the value given, exit 2', () => {
    for (const [yaml, message] of [
      ['listen_port: 70000', 'listen_port: must be 0–65535, got 70000'],
      ['max_value_bytes: 99999999', 'max_value_bytes: must be 1–16777216 (bytes, or a size such as 512KiB; at most 16 MiB: Cassandra refuses larger writes), got 99999999'],
      ['max_value_bytes: 20MiB', 'max_value_bytes: must be 1–16777216 (bytes, or a size such as 512KiB; at most 16 MiB: Cassandra refuses larger writes), got 20MiB (20971520 bytes)'],
      ['workers: 1.5', 'workers: must be a whole number between 1 and 64, got 1.5'],
      ['listen_port: eighty', 'listen_port: must be a whole number between 0 and 65535, got text'],
      ['failed_auth_limit: {per_second: 0}', 'failed_auth_limit.per_second: must be more than 0 and at most 1000000, got 0'],
      ['admin: {enabled: sometimes}', 'admin.enabled: must be true or false, got text'],
    ] as const) {
      const file = join(dir, 'range.yaml');
      writeFileSync(file, `${yaml}\n`);
      for (const command of ['check-config', 'serve']) {
        const r = firkin(command, '--config', file);
        assert.equal(r.code, 2, `${command} ${yaml}: ${r.stderr}`);
        assert.equal(r.stderr, `firkin: config error in ${file}: ${message}\n`);
        assert.equal(r.stdout, '');
      }
    }
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
    assert.equal(firkin('check-keys').code, 2, 'check-keys needs --config');
    assert.equal(firkin('check-keys', '--config', good).code, 2, 'check-keys needs a cassandra: section');
  });

  it('prints its version', () => {
    const r = firkin('--version');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});
