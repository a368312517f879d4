/**
 * The Cassandra engine against a node that demands a password and TLS: Kask's
 * cassandra.authentication and cassandra.tls keys, with host verification on by
 * default. Its own node (127.0.0.4; 127.0.0.34 on 4.1), certificates made here with openssl.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CassandraConfig } from '../../src/config/load.js';
import { CassandraEngine } from '../../src/storage/cassandra/cassandra-engine.js';
import { applySchema } from '../../src/storage/cassandra/schema.js';
import { startNode, stopNode, wipeNode, type NodeSpec } from '../../tools/cassandra/node.js';
import { CASSANDRA_UNDER_TEST, namespaceTables, TEST_LINE, TEST_NODES } from '../helpers/cassandra.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();
const pem = (name: string): string => join(dir, name);

/** A CA, and a server certificate it signs for the name cassandra.invalid (not the node's IP). */
function makeCertificates(): void {
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  for (const ca of ['ca', 'other-ca']) {
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', pem(`${ca}.key`), '-out', pem(`${ca}.pem`), '-days', '1', '-subj', `/CN=${ca}`);
  }
  // PKCS#8 key: what Cassandra's PEM keystore reads.
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', pem('server.key'));
  openssl('req', '-new', '-key', pem('server.key'), '-out', pem('server.csr'), '-subj', '/CN=cassandra.invalid');
  writeFileSync(pem('ext.cnf'), 'subjectAltName=DNS:cassandra.invalid\n');
  openssl('x509', '-req', '-in', pem('server.csr'), '-CA', pem('ca.pem'), '-CAkey', pem('ca.key'), '-CAcreateserial',
    '-out', pem('server.pem'), '-days', '1', '-extfile', pem('ext.cnf'));
  writeFileSync(pem('server-keystore.pem'), readFileSync(pem('server.key'), 'utf8') + readFileSync(pem('server.pem'), 'utf8'));
}

/** A node of its own, of the release line under test. */
const SECURE: NodeSpec = {
  ...(TEST_LINE === '4.1' ? { name: 'secure-4.1', listen: '127.0.0.34', jmxPort: 8699 } : { name: 'secure', listen: '127.0.0.4', jmxPort: 7499 }),
  version: TEST_NODES.single.version,
  passwordAuth: true,
  tlsKeyAndCert: pem('server-keystore.pem'),
};

function config(overrides: Partial<CassandraConfig> = {}): CassandraConfig {
  return {
    hosts: [SECURE.listen],
    port: 9042,
    keyspace: 'firkin_secure',
    localDc: 'datacenter1',
    replication: { datacenter1: 1 },
    queryTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    authentication: { username: 'cassandra', password: 'cassandra' },
    tls: { ca: pem('ca.pem'), cert: undefined, key: undefined, hostVerification: false },
    ...overrides,
  };
}

/**
 * Whether an engine with this config gets connected within a few seconds; it is closed either way.
 * When it does not, its probe must fail with `failure`: refused credentials are permanent (500),
 * network and TLS failures transient (503).
 */
async function connects(c: CassandraConfig, failure: 'unavailable' | 'permanent' = 'unavailable'): Promise<{ ok: boolean; errors: string[] }> {
  const errors: string[] = [];
  const engine = new CassandraEngine({ config: c, onConnectError: (err) => errors.push(String(err)) });
  try {
    await engine.waitUntilConnected(4000);
    const store = engine.store({ name: 'sessions', table: 'sessions' });
    await store.set('k', Buffer.from('secret session'), 60);
    assert.equal((await store.get('k'))?.value.toString(), 'secret session');
    return { ok: true, errors };
  } catch {
    await assert.rejects(engine.probe(), { name: 'StorageError', kind: failure });
    return { ok: false, errors };
  } finally {
    await engine.close();
  }
}

describe(`cassandra with password authentication and TLS (${CASSANDRA_UNDER_TEST})`, () => {
  before(async () => {
    makeCertificates();
    await stopNode(SECURE);
    wipeNode(SECURE);
    await startNode(SECURE, 90_000);
    // The default superuser is created just after start-up: retry until the schema goes in.
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await applySchema(config(), namespaceTables('sessions'));
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  });
  after(async () => {
    await stopNode(SECURE, 2000); // its data is wiped at the next start; the logs stay for a post-mortem
  });

  it('works with the right password over TLS', async () => {
    assert.deepEqual(await connects(config()), { ok: true, errors: [] });
  });

  it('refuses a wrong password, with the reason in the log', async () => {
    const r = await connects(config({ authentication: { username: 'cassandra', password: 'wrong' } }), 'permanent');
    assert.equal(r.ok, false);
    assert.match(r.errors.join('\n'), /Authentication|credentials|password/i);
  });

  it('refuses to connect without credentials', async () => {
    assert.equal((await connects(config({ authentication: undefined }), 'permanent')).ok, false);
  });

  it('verifies the host name by default: a certificate for another name is refused', async () => {
    const r = await connects(config({ tls: { ca: pem('ca.pem'), cert: undefined, key: undefined, hostVerification: true } }));
    assert.equal(r.ok, false);
    assert.match(r.errors.join('\n'), /altnames|cassandra\.invalid|Hostname/i);
  });

  it('refuses a server certificate from another CA', async () => {
    const r = await connects(config({ tls: { ca: pem('other-ca.pem'), cert: undefined, key: undefined, hostVerification: false } }));
    assert.equal(r.ok, false);
  });

  it('cannot talk plain CQL to a TLS-only node', async () => {
    assert.equal((await connects(config({ tls: undefined }))).ok, false);
  });
});
