/** Start-up warnings for secret-holding files that group or others may read. */
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { looseFileWarnings } from '../../src/config/file-modes.js';
import { loadConfig } from '../../src/config/load.js';
import { startService } from '../../src/service.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();
function file(name: string, mode: number, text = 'x'): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode); // whatever the umask
  return path;
}

describe('loose file warnings', () => {
  it('warns of the config file, tls.key and cassandra.tls.key when group or others may read them', () => {
    const key = file('server.key', 0o640);
    const cassandraKey = file('cassandra.key', 0o604);
    const cert = file('server.pem', 0o644); // certificates are public: no warning
    const ca = file('ca.pem', 0o644);
    const config = file(
      'firkin.yaml',
      0o644,
      `tls: {cert: ${cert}, key: ${key}}\ncassandra:\n  tls: {ca: ${ca}, cert: ${cert}, key: ${cassandraKey}}\nstorage: embedded\n`,
    );
    assert.deepEqual(looseFileWarnings(loadConfig(config)), [
      `config file ${config} is readable by group or others (mode 0644); it may hold secrets: chmod 600 it`,
      `tls.key ${key} is readable by group or others (mode 0640); it is a private key: chmod 600 it`,
      `cassandra.tls.key ${cassandraKey} is readable by group or others (mode 0604); it is a private key: chmod 600 it`,
    ]);
  });

  it('says nothing of files only their owner may read', () => {
    const key = file('private.key', 0o600);
    const cert = file('cert.pem', 0o644);
    const config = file('private.yaml', 0o600, `tls: {cert: ${cert}, key: ${key}}\n`);
    assert.deepEqual(looseFileWarnings(loadConfig(config)), []);
    const readOnly = file('readonly.yaml', 0o400, `tls: {cert: ${cert}, key: ${file('ro.key', 0o400)}}\n`);
    assert.deepEqual(looseFileWarnings(loadConfig(readOnly)), []);
  });

  it('has nothing to check with the built-in defaults', () => {
    assert.deepEqual(looseFileWarnings(loadConfig()), []);
  });

  it('are logged at start-up as warnings with the file and its mode', async () => {
    const config = file('served.yaml', 0o644, `listen_port: 0\nembedded: {path: ${join(dir, 'data')}}\n`);
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const service = await startService(loadConfig(config), { logDestination: destination });
    await service.close(100);
    const warnings = lines.filter((l) => l.level === 'WARNING');
    assert.deepEqual(
      warnings.map((l) => [l.msg, l.file, l.mode]),
      [[`config file ${config} is readable by group or others (mode 0644); it may hold secrets: chmod 600 it`, config, '0644']],
    );
  });
});
