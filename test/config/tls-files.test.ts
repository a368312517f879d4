// test-tier: full (slow: 9 s alone on two cores; scripts/test-files.mjs)
/**
 * TLS files that cannot be used, through the real command: `check-config` refuses
 * them as `serve` would, and `serve` refuses them before listening; both exit 2 with
 * one line naming the config file, the key and the TLS file.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { TestCa } from '../helpers/pki.js';
import { runFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();
const ca = new TestCa();
const server = ca.server();
const client = ca.issue('cassandra-client', 'firkin');
const other = new TestCa('Another CA').server('other');
const file = (name: string, text: string | Buffer): string => {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
};
const garbage = file('garbage.pem', 'this is not PEM at all\n');
const empty = file('empty.pem', '');
const directory = join(dir, 'a-directory');
mkdirSync(directory);
const missing = join(dir, 'missing.pem');
const encryptedKey = join(dir, 'encrypted.key');
execFileSync('openssl', ['pkey', '-in', server.key, '-out', encryptedKey, '-aes256', '-passout', 'pass:secret'], { stdio: 'ignore' });
// The same, in the traditional form (Proc-Type: 4,ENCRYPTED).
const encryptedTraditional = join(dir, 'encrypted-traditional.key');
execFileSync('openssl', ['ec', '-in', server.key, '-out', encryptedTraditional, '-aes256', '-passout', 'pass:secret'], { stdio: 'ignore' });
// A CA bundle whose second certificate is damaged inside its PEM armour.
const caPem = readFileSync(ca.cert, 'utf8');
const damagedCa = file('damaged-ca.pem', `${caPem}-----BEGIN CERTIFICATE-----\nTUlJQm9uZ3VzCg==\n-----END CERTIFICATE-----\n`);

let configs = 0;
function config(settings: Record<string, unknown>): string {
  return file(`config-${++configs}.yaml`, stringify({ listen_port: 0, workers: 1, embedded: { path: join(dir, 'data') }, ...settings }));
}

/**
 * Both commands refuse `settings` with exit 2 and one line: the config file's name, then
 * `problem` (OpenSSL's reason, which varies between versions, in brackets after `reason`).
 */
function assertRefused(settings: Record<string, unknown>, problem: string, { reason = false } = {}): void {
  const path = config(settings);
  for (const command of ['check-config', 'serve']) {
    const r = runFirkin(command, '--config', path);
    assert.equal(r.code, 2, `${command}: ${r.stderr}`);
    const line = `firkin: config error in ${path}: ${problem}`;
    if (reason) assert.match(r.stderr, new RegExp(`^${escape(line)} \\([^\n]+\\)\n$`), command);
    else assert.equal(r.stderr, `${line}\n`, command);
    assert.equal(r.stdout, '', `${command}: nothing served or logged`);
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('check-config and serve load the server TLS files', () => {
  it('accept a certificate, its key and a CA', () => {
    const r = runFirkin('check-config', '--config', config({ tls: { cert: server.cert, key: server.key, ca: ca.cert } }));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /: ok \(storage embedded/);
  });

  it('refuse a directory as the key', () =>
    assertRefused({ tls: { cert: server.cert, key: directory } }, `tls.key (${directory}): is a directory, not a file`));

  it('refuse a key file of garbage', () =>
    assertRefused({ tls: { cert: server.cert, key: garbage } }, `tls.key (${garbage}): is not a PEM private key`, { reason: true }));

  it('refuse a key that does not match the certificate', () =>
    assertRefused({ tls: { cert: server.cert, key: other.key } }, `tls.key (${other.key}): does not match tls.cert`));

  it('refuse a key encrypted with a passphrase', () => {
    for (const path of [encryptedKey, encryptedTraditional]) {
      assertRefused({ tls: { cert: server.cert, key: path } }, `tls.key (${path}): is encrypted with a passphrase; Firkin needs an unencrypted key`);
    }
  });

  it('refuse a certificate of garbage, or a key given as the certificate', () => {
    assertRefused({ tls: { cert: garbage, key: server.key } }, `tls.cert (${garbage}): is not a PEM certificate (-----BEGIN CERTIFICATE-----)`);
    assertRefused({ tls: { cert: server.key, key: server.key } }, `tls.cert (${server.key}): is not a PEM certificate (-----BEGIN CERTIFICATE-----)`);
  });

  it('refuse an empty certificate', () => assertRefused({ tls: { cert: empty, key: server.key } }, `tls.cert (${empty}): is empty`));

  it('refuse a missing certificate', () =>
    assertRefused({ tls: { cert: missing, key: server.key } }, `tls.cert (${missing}): cannot read the file (ENOENT)`));

  it('refuse a CA of garbage (Node would take it, and then refuse every client certificate)', () =>
    assertRefused(
      { tls: { cert: server.cert, key: server.key, ca: garbage } },
      `tls.ca (${garbage}): holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    ));

  it('refuse a CA bundle with a damaged certificate', () => {
    const path = config({ tls: { cert: server.cert, key: server.key, ca: damagedCa } });
    const r = runFirkin('check-config', '--config', path);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`^${escape(`firkin: config error in ${path}: tls.ca (${damagedCa}): certificate 2 of 2 does not parse`)} \\(.+\\)\\n$`));
  });

  it('refuse a missing CA', () =>
    assertRefused({ tls: { cert: server.cert, key: server.key, ca: missing } }, `tls.ca (${missing}): cannot read the file (ENOENT)`));

  it('accept a revocation list of fingerprints, as openssl prints them or as hex, with comments; an empty one too', () => {
    const fp = new X509Certificate(readFileSync(client.cert)).fingerprint256;
    const revoked = file('revoked.txt', `# revoked client certificates\n\n${fp}   # mw1234, stolen\nsha256 Fingerprint=${fp}\n${fp.replace(/:/g, '').toLowerCase()}\n`);
    for (const list of [revoked, empty]) {
      const r = runFirkin('check-config', '--config', config({ tls: { cert: server.cert, key: server.key, ca: ca.cert, revoked: list } }));
      assert.equal(r.code, 0, r.stderr);
    }
  });

  it('refuse a revocation list with a line that is not a fingerprint, naming the line', () => {
    const bad = file('revoked-bad.txt', '# ok\nAB:CD\n');
    assertRefused({ tls: { cert: server.cert, key: server.key, ca: ca.cert, revoked: bad } }, `tls.revoked (${bad}): line 2 is not a SHA-256 certificate fingerprint (64 hex digits, with or without colons)`);
  });

  it('refuse a missing revocation list, and one without mutual TLS', () => {
    assertRefused({ tls: { cert: server.cert, key: server.key, ca: ca.cert, revoked: missing } }, `tls.revoked (${missing}): cannot read the file (ENOENT)`);
    assertRefused({ tls: { cert: server.cert, key: server.key, revoked: empty } }, 'tls.revoked: revokes client certificates: it needs mutual TLS (tls.ca)');
  });
});

describe('check-config and serve load the Cassandra TLS files', () => {
  const cassandra = (tls: Record<string, unknown>) => ({ storage: 'cassandra', cassandra: { hosts: ['127.0.0.1'], tls } });

  it('accept a CA, a client certificate and its key', () => {
    const r = runFirkin('check-config', '--config', config(cassandra({ ca: ca.cert, cert: client.cert, key: client.key })));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /: ok \(storage cassandra/);
  });

  it('refuse a CA of garbage', () =>
    assertRefused(cassandra({ ca: garbage }), `cassandra.tls.ca (${garbage}): holds no PEM certificate (-----BEGIN CERTIFICATE-----)`));

  it('schema --apply and check-keys, which connect, refuse them too (exit 2, not a connection failure)', () => {
    const path = config(cassandra({ ca: garbage }));
    for (const args of [['schema', '--apply'], ['check-keys']]) {
      const r = runFirkin(...args, '--config', path);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, `firkin: config error in ${path}: cassandra.tls.ca (${garbage}): holds no PEM certificate (-----BEGIN CERTIFICATE-----)\n`);
    }
  });

  it('refuse a directory as the CA', () =>
    assertRefused(cassandra({ ca: directory }), `cassandra.tls.ca (${directory}): is a directory, not a file`));

  it('refuse a client key that does not match the client certificate', () =>
    assertRefused(cassandra({ ca: ca.cert, cert: client.cert, key: server.key }), `cassandra.tls.key (${server.key}): does not match cassandra.tls.cert`));

  it('refuse a client key of garbage', () =>
    assertRefused(
      cassandra({ ca: ca.cert, cert: client.cert, key: garbage }),
      `cassandra.tls.key (${garbage}): is not a PEM private key`,
      { reason: true },
    ));

  it('refuse a missing client certificate', () =>
    assertRefused(cassandra({ ca: ca.cert, cert: missing, key: client.key }), `cassandra.tls.cert (${missing}): cannot read the file (ENOENT)`));
});
