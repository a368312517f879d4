/** The keyring's key files and its config rules: refused at start, one line naming the key and the file, never the bytes. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/base/config-error.js';
import { decodeKey, keyPath, readKeyring } from '../../src/config/keyring-files.js';
import { parseConfig } from '../../src/config/load.js';
import { runFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

function keyFile(dir: string, name: string, data: Buffer | string, mode = 0o600): string {
  const file = join(dir, name);
  writeFileSync(file, data);
  chmodSync(file, mode);
  return file;
}

describe('keyring files', () => {
  it('take 32 bytes raw, as 64 hex digits or as base64, with or without a newline', () => {
    const key = randomBytes(32);
    for (const form of [key, `${key.toString('hex')}\n`, key.toString('base64'), `${key.toString('base64url')}\n`]) {
      assert.deepEqual(decodeKey(Buffer.from(form)), key);
    }
    for (const bad of [randomBytes(31), randomBytes(33), Buffer.from('short'), Buffer.from('zz'.repeat(32))]) assert.equal(decodeKey(bad), undefined);
  });

  it('fill in $CREDENTIALS_DIRECTORY, and refuse it unset', () => {
    assert.equal(keyPath('$CREDENTIALS_DIRECTORY/k1', { CREDENTIALS_DIRECTORY: '/run/credentials/firkin.service' }), '/run/credentials/firkin.service/k1');
    assert.equal(keyPath('${CREDENTIALS_DIRECTORY}/k1', { CREDENTIALS_DIRECTORY: '/c' }), '/c/k1');
    assert.equal(keyPath('$CREDENTIALS_DIRECTORY/k1', {}), undefined);
    assert.equal(keyPath('/etc/firkin/k1', {}), '/etc/firkin/k1');
  });

  it('are refused when group or others may read them, too short, or unreadable, naming the key and file but never the bytes', () => {
    const dir = tempDir();
    const secret = randomBytes(32);
    const cases: [string, string, RegExp][] = [
      ['loose', keyFile(dir, 'loose', secret, 0o640), /group or others may read or write it \(mode 0640\)/],
      ['short', keyFile(dir, 'short', randomBytes(16)), /does not hold a key of 32 bytes/],
      ['missing', join(dir, 'missing'), /cannot read the file \(ENOENT\)/],
    ];
    for (const [name, file, problem] of cases) {
      assert.throws(
        () => readKeyring({ active: name, keys: [{ id: name, file }] }, '/etc/firkin/config.yaml'),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.match(err.message, new RegExp(`config error in /etc/firkin/config.yaml: keyring.keys.0.file \\(${file.replace(/[/.]/g, '\\$&')}\\): `));
          assert.match(err.message, problem);
          assert.ok(!err.message.includes(secret.toString('hex')) && !err.message.includes(secret.toString('base64')));
          return true;
        },
      );
    }
    const good = keyFile(dir, 'good', secret);
    assert.deepEqual(readKeyring({ active: 'g', keys: [{ id: 'g', file: good }] }, 'c.yaml'), [{ id: 'g', secret }]);
  });

  it('is needed by a sealed namespace, holds its active key once, and check-config says so (exit 2), never printing a key', () => {
    assert.throws(() => parseConfig('sealed: true\n', 'c.yaml'), /keyring: namespace default is sealed, which needs a keyring/);
    assert.throws(() => parseConfig('sealed: migrate\nkeyring: {active: b, keys: [{id: a, file: /x}]}\n', 'c.yaml'), /keyring.active: names b, which is not among keyring.keys/);
    assert.throws(() => parseConfig('sealed: true\nkeyring: {active: a, keys: [{id: a, file: /x}, {id: a, file: /y}]}\n', 'c.yaml'), /keyring.keys.1.id: duplicate key id a/);
    assert.throws(() => parseConfig('sealed: maybe\n', 'c.yaml'), /sealed: must be true, false or migrate/);
    const config = parseConfig('namespaces: [{name: a, base_uri: /a/, sealed: true}, {name: b, base_uri: /b/}]\nsealed: migrate\nkeyring: {active: k, keys: [{id: k, file: /x}]}\n', 'c.yaml');
    assert.deepEqual(config.namespaces.map((ns) => ns.sealing), ['sealed', 'migrate']);

    const dir = tempDir();
    const secret = randomBytes(32);
    keyFile(dir, 'k1', secret, 0o644);
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'c.yaml'), `embedded: {path: ${join(dir, 'data')}}\nsealed: true\nkeyring: {active: k1, keys: [{id: k1, file: ${join(dir, 'k1')}}]}\n`);
    const r = runFirkin('check-config', '--config', join(dir, 'c.yaml'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /keyring.keys.0.file .*group or others may read/);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    for (const out of [r.stdout, r.stderr]) assert.ok(!out.includes(secret.toString('hex')));
    chmodSync(join(dir, 'k1'), 0o600);
    assert.equal(runFirkin('check-config', '--config', join(dir, 'c.yaml')).code, 0);
  });
});
