import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/base/config-error.js';
import { dataPath, loadConfig, parseConfig, parseListen } from '../../src/config/load.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const cert = file('cert.pem', 'not checked here');
const key = file('key.pem', 'not checked here');

/** Assert that `text` fails naming `expectedKey` and the file, on one line. */
function assertConfigError(text: string, expectedKey: string | undefined, pattern?: RegExp): ConfigError {
  const path = file('bad.yaml', text);
  try {
    loadConfig(path);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.key, expectedKey);
    assert.equal(err.file, path);
    assert.ok(err.message.includes(path), err.message);
    if (expectedKey) assert.ok(err.message.includes(expectedKey), err.message);
    assert.ok(!err.message.includes('\n'), 'one line');
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected a config error for:\n${text}`);
}

describe('config defaults', () => {
  it('serves the embedded engine on 127.0.0.1:8081 at /sessions/v1/ with a day of TTL', () => {
    const c = loadConfig();
    assert.equal(c.listenAddress, '127.0.0.1');
    assert.equal(c.listenPort, 8081);
    assert.equal(c.storage, 'embedded');
    assert.equal(c.embedded.path, join(process.cwd(), 'data'), './data, in the working directory when there is no config file');
    assert.equal(c.logLevel, 'info');
    assert.equal(c.maxValueBytes, 1024 * 1024);
    assert.equal(c.maxKeyBytes, 1024);
    assert.deepEqual(c.namespaces, [
      {
        name: 'default',
        baseUri: '/sessions/v1/',
        defaultTtl: 86400,
        table: 'values',
        access: undefined,
        rateLimit: undefined,
        conditionalWrites: false,
        serialConsistency: 'local_serial',
        sealing: 'plain',
      },
    ]);
  });

  it('treats an empty file as all defaults', () => {
    assert.equal(parseConfig('', 'empty.yaml').listenPort, 8081);
  });

  it('runs one process on Cassandra and one per core (at most 16) on the embedded engine, unless workers says otherwise', () => {
    const cores = Math.min(availableParallelism(), 16);
    assert.equal(parseConfig('', 'embedded.yaml').workers, cores);
    assert.equal(parseConfig('cassandra:\n  hosts: [127.0.0.1]\n', 'cassandra.yaml').workers, 1);
    assert.equal(parseConfig('cassandra:\n  hosts: [127.0.0.1]\nworkers: 3\n', 'cassandra.yaml').workers, 3);
    assert.equal(parseConfig('workers: 1\n', 'embedded.yaml').workers, 1);
  });
});

describe("Kask's config files load unchanged", () => {
  it("loads Kask's config.yaml.sample (legacy cassandra.hostname) and picks the cassandra engine", () => {
    const c = parseConfig(
      `# The name of this service (as it appears in logs)
service_name: kask
base_uri: /sessions/v1
listen_address: localhost
listen_port: 8081
default_ttl: 86400
log_level: info
tls:
  cert: ${cert}
  key: ${key}
cassandra:
  hostname: 172.17.0.2
  keyspace: kask
  table:    values
  authentication:
    username: jsmith
    password: supersecret
  tls:
    ca: ${cert}
    cert: ${cert}
    key: ${key}
`,
      'kask.yaml',
    );
    assert.equal(c.storage, 'cassandra');
    assert.equal(c.serviceName, 'kask');
    assert.equal(c.namespaces[0]!.baseUri, '/sessions/v1/');
    assert.deepEqual(c.cassandra?.hosts, ['172.17.0.2']);
    assert.deepEqual(c.cassandra?.authentication, { username: 'jsmith', password: 'supersecret' });
    assert.equal(c.cassandra?.tls?.hostVerification, true);
    assert.deepEqual(c.tls, { cert, key, ca: undefined, revoked: undefined });
  });

  it("loads a current Kask config with hosts, local_dc, timeouts and openapi_spec", () => {
    const spec = file('openapi.yaml', 'openapi: 3.0.0');
    const c = parseConfig(
      `service_name: sessionstore
base_uri: /sessions/v1/
listen_address: 0.0.0.0
listen_port: 8081
default_ttl: 3600
log_level: WARNING
openapi_spec: ${spec}
cassandra:
  hosts: [cass-a.example, cass-b.example]
  port: 9042
  keyspace: sessions
  table: values
  local_dc: eqiad
  query_timeout_ms: 12000
  connect_timeout_ms: 5000
`,
      'kask.yaml',
    );
    assert.equal(c.logLevel, 'warning');
    assert.equal(c.openapiSpec, spec);
    assert.deepEqual(c.cassandra?.hosts, ['cass-a.example', 'cass-b.example']);
    assert.equal(c.cassandra?.localDc, 'eqiad');
    assert.equal(c.cassandra?.keyspace, 'sessions');
    assert.equal(c.cassandra?.queryTimeoutMs, 12000);
    assert.equal(c.namespaces[0]!.table, 'values');
  });

  it('treats keys left empty (YAML null) as unset', () => {
    const c = parseConfig('service_name: x\ntls:\nopenapi_spec:\n', 'nulls.yaml');
    assert.equal(c.tls, undefined);
    assert.equal(c.openapiSpec, undefined);
  });

  it("reads Firkin's operations keys", () => {
    const c = parseConfig(
      'log:\n  syslog:\n    host: logs.example\n    protocol: tcp\n    facility: local4\ndrain_timeout_ms: 2500\nreadiness_timeout_ms: 300\ninsight:\n  window_seconds: 60\n  sketch_size: 50\n  top_keys: 5\n  compare_sample_rate: 0.5\n',
      'ops.yaml',
    );
    assert.deepEqual(c.log, { kind: 'syslog-server', host: 'logs.example', port: 514, protocol: 'tcp', facility: 'local4' });
    assert.equal(c.drainTimeoutMs, 2500);
    assert.equal(c.readinessTimeoutMs, 300);
    assert.deepEqual(c.insight, { windowSeconds: 60, sketchSize: 50, topKeys: 5, compareSampleRate: 0.5 });
    assert.deepEqual(parseConfig('log:\n  syslog:\n    path: /dev/log\n', 'x.yaml').log, { kind: 'syslog-socket', path: '/dev/log', facility: 'daemon' });
    assert.deepEqual(parseConfig('', 'x.yaml').log, { kind: 'stdout' });
    assert.equal(parseConfig('', 'x.yaml').maxConnectionsPerSource, 1000, 'the default');
    assert.equal(parseConfig('max_connections_per_source: 64\n', 'x.yaml').maxConnectionsPerSource, 64);
  });

  it("takes max_key_bytes up to each engine's ceiling: 1900 (LMDB) embedded, 65535 (Cassandra's key limit) on cassandra", () => {
    assert.equal(parseConfig('', 'x.yaml').maxKeyBytes, 1024, 'the default, on either engine');
    assert.equal(parseConfig('cassandra:\n  hosts: [a]\n', 'x.yaml').maxKeyBytes, 1024);
    assert.equal(parseConfig('max_key_bytes: 1900\n', 'x.yaml').maxKeyBytes, 1900);
    assert.equal(parseConfig('cassandra:\n  hosts: [a]\nmax_key_bytes: 4096\n', 'x.yaml').maxKeyBytes, 4096);
    assert.equal(parseConfig('storage: cassandra\ncassandra:\n  hosts: [a]\nmax_key_bytes: 65535\n', 'x.yaml').maxKeyBytes, 65535);
  });

  it('lets storage: embedded override a cassandra section', () => {
    assert.equal(parseConfig('storage: embedded\ncassandra:\n  hosts: [a]\n', 'x.yaml').storage, 'embedded');
  });
});

describe('bad configs: one line naming the key and the file', () => {
  it('an unknown top-level key', () => void assertConfigError('listen_prot: 80\n', 'listen_prot', /unknown key/));
  it('an unknown nested key', () => void assertConfigError('cassandra:\n  hosts: [a]\n  keyspaec: x\n', 'cassandra.keyspaec', /unknown key/));
  it('a wrong type', () =>
    void assertConfigError('listen_port: eighty\n', 'listen_port', /: listen_port: must be a whole number between 0 and 65535, got text$/));
  it('a port out of range', () => void assertConfigError('listen_port: 70000\n', 'listen_port', /: listen_port: must be 0–65535, got 70000$/));
  it('a negative TTL', () => void assertConfigError('default_ttl: -1\n', 'default_ttl', /: default_ttl: must be 0–630720000 \(seconds, at most 20 years; 0: never expire\), got -1$/));
  it('a fractional TTL', () => void assertConfigError('default_ttl: 1.5\n', 'default_ttl', /must be a whole number between 0 and 630720000 .*, got 1\.5$/));
  it('a TTL past Cassandra’s ceiling', () => void assertConfigError('default_ttl: 700000000\n', 'default_ttl', /must be 0–630720000 .*20 years.*, got 700000000$/));
  it('names the key of a bad secret, never its value', () => {
    for (const [yaml, key, secret] of [
      ['cassandra:\n  authentication:\n    username: u\n    password: 9876543210\n', 'cassandra.authentication.password', '9876543210'],
      ['cassandra:\n  authentication:\n    username: u\n    password: [hunter2secret]\n', 'cassandra.authentication.password', 'hunter2secret'],
      ['namespaces:\n  - name: s\n    base_uri: /s/\n    tokens:\n      - name: edge\n        sha256: plaintexttoken123\n', 'namespaces.0.tokens.0.sha256', 'plaintexttoken123'],
    ] as const) {
      const err = assertConfigError(yaml, key);
      assert.ok(!err.message.includes(secret), err.message);
    }
  });
  it('mutual TLS settings', () => {
    void assertConfigError('tls:\n  ca: /etc/ssl/ca.pem\n', 'tls.ca', /tls.cert/);
    void assertConfigError('namespaces:\n  - name: s\n    base_uri: /s/\n    clients: [mediawiki]\n', 'namespaces.0.clients', /tls.ca/);
    void assertConfigError('namespaces:\n  - name: s\n    base_uri: /s/\n    clients:\n      - identity: a\n        operations: [read, wipe]\n', 'namespaces.0.clients.0.operations.1', /must be read, write or delete$/);
    void assertConfigError('namespaces:\n  - name: s\n    base_uri: /s/\n    clients: [5]\n', 'namespaces.0.clients.0', /must be text or a mapping of keys to values, got a number$/);
    void assertConfigError('namespaces:\n  - name: s\n    base_uri: /s/\n    rate_limit:\n      requests_per_second: 0\n', 'namespaces.0.rate_limit.requests_per_second');
    void assertConfigError('admin:\n  enabled: false\n  listen_port: 9000\n', 'admin.listen_port', /disabled/);
  });
  it('a connection limit per source of 0', () => void assertConfigError('max_connections_per_source: 0\n', 'max_connections_per_source', /1–1000000, got 0/));
  it('an unknown log level', () => void assertConfigError('log_level: verbose\n', 'log_level'));
  it('syslog with both a socket and a host', () =>
    void assertConfigError('log:\n  syslog:\n    path: /dev/log\n    host: a\n', 'log.syslog.host', /either/));
  it('syslog with neither a socket nor a host', () => void assertConfigError('log:\n  syslog:\n    port: 514\n', 'log.syslog', /path .* or host/));
  it('an unknown syslog facility', () =>
    void assertConfigError('log:\n  syslog:\n    host: a\n    facility: local9\n', 'log.syslog.facility'));
  it('an unknown syslog protocol', () => void assertConfigError('log:\n  syslog:\n    host: a\n    protocol: http\n', 'log.syslog.protocol'));
  it('more top keys than the sketch holds', () =>
    void assertConfigError('insight:\n  sketch_size: 10\n  top_keys: 11\n', 'insight.top_keys', /sketch_size/));
  it('a sample rate above 1', () => void assertConfigError('insight:\n  compare_sample_rate: 2\n', 'insight.compare_sample_rate'));
  it('a zero drain timeout', () => void assertConfigError('drain_timeout_ms: 0\n', 'drain_timeout_ms'));
  it('a cert without a key', () => void assertConfigError(`tls:\n  cert: ${cert}\n`, 'tls.key', /together/));
  it('a key without a cert', () => void assertConfigError(`tls:\n  key: ${key}\n`, 'tls.cert', /together/));
  it('an unreadable cert', () =>
    void assertConfigError(`tls:\n  cert: /nonexistent/cert.pem\n  key: ${key}\n`, 'tls.cert', /: tls\.cert \(\/nonexistent\/cert\.pem\): cannot read the file \(ENOENT\)$/));
  it('an unreadable openapi_spec', () => void assertConfigError('openapi_spec: /nonexistent.yaml\n', 'openapi_spec'));
  it('a directory as openapi_spec', () =>
    void assertConfigError(`openapi_spec: ${dir}\n`, 'openapi_spec', new RegExp(`: openapi_spec \\(${dir}\\): is a directory, not a file$`)));
  it('a username without a password', () =>
    void assertConfigError('cassandra:\n  authentication:\n    username: u\n', 'cassandra.authentication.password'));
  it('cassandra client cert without a CA', () =>
    void assertConfigError(`cassandra:\n  tls:\n    cert: ${cert}\n    key: ${key}\n`, 'cassandra.tls.ca'));
  it('storage: cassandra without a cassandra section', () => void assertConfigError('storage: cassandra\n', 'storage'));
  it('an unknown storage', () => void assertConfigError('storage: redis\n', 'storage'));
  it('max_key_bytes beyond what LMDB can index', () =>
    void assertConfigError('max_key_bytes: 4000\n', 'max_key_bytes', /must be 1–1900 on the embedded engine .*, got 4000$/));
  it('max_key_bytes beyond what LMDB can index, with storage: embedded beside a cassandra section', () =>
    void assertConfigError('storage: embedded\ncassandra:\n  hosts: [a]\nmax_key_bytes: 1901\n', 'max_key_bytes', /embedded/));
  it("max_key_bytes beyond Cassandra's key limit", () =>
    void assertConfigError('cassandra:\n  hosts: [a]\nmax_key_bytes: 65536\n', 'max_key_bytes', /must be 1–65535 \(bytes, or a size such as 1KiB; Cassandra's key limit\), got 65536$/));
  it('a zero max_key_bytes', () => void assertConfigError('max_key_bytes: 0\n', 'max_key_bytes'));
  it('base_uri / shadowing the service endpoints', () => void assertConfigError('base_uri: /\n', 'base_uri'));
  it('base_uri under a reserved path', () => void assertConfigError('base_uri: /metrics/x\n', 'base_uri', /reserved/));
  it('a top-level base_uri together with namespaces', () =>
    void assertConfigError('base_uri: /a/\nnamespaces:\n  - {name: a, base_uri: /a/}\n', 'base_uri'));
  it('duplicate namespace names', () =>
    void assertConfigError('namespaces:\n  - {name: a, base_uri: /a/}\n  - {name: a, base_uri: /b/}\n', 'namespaces.1.name', /duplicate/));
  it('overlapping namespace base URIs', () =>
    void assertConfigError('namespaces:\n  - {name: a, base_uri: /s/}\n  - {name: b, base_uri: /s/v1/}\n', 'namespaces.1.base_uri', /overlaps/));
  it('a bad namespace name', () => void assertConfigError('namespaces:\n  - {name: Bad-Name, base_uri: /a/}\n', 'namespaces.0.name'));
  it('an unknown namespace key', () => void assertConfigError('namespaces:\n  - {name: a, base_uri: /a/, ttl: 5}\n', 'namespaces.0.ttl'));
  it('a duplicated YAML key', () => void assertConfigError('listen_port: 1\nlisten_port: 2\n', undefined, /not valid YAML at line 2/));
  it('broken YAML', () => void assertConfigError('listen_port: [1,\n', undefined, /not valid YAML/));
  it('a YAML list instead of a mapping', () => void assertConfigError('- a\n- b\n', undefined, /mapping/));

  it('a file that cannot be read', () => {
    assert.throws(() => loadConfig(join(dir, 'missing.yaml')), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /missing\.yaml.*cannot read the file \(ENOENT\)/);
      return true;
    });
  });

  it('never repeats a secret value in the message', () => {
    const err = assertConfigError('cassandra:\n  authentication:\n    username: 7\n    password: hunter2-secret\n', 'cassandra.authentication.username');
    assert.ok(!err.message.includes('hunter2-secret'));
  });
});

describe('client identities', () => {
  const ca = file('ca.pem', 'not checked here');
  const mtls = `tls:\n  cert: ${cert}\n  key: ${key}\n  ca: ${ca}\n`;

  it('type client identities by prefix (any case); a bare one matches all three kinds, with a warning naming its key', () => {
    const c = parseConfig(
      `${mtls}namespaces:\n  - name: s\n    base_uri: /s/\n    clients:\n      - URI:spiffe://wiki/mediawiki\n      - identity: dns:MW1.Example\n        operations: [read]\n      - mediawiki\n`,
      'typed.yaml',
    );
    const all = ['read', 'write', 'delete'];
    assert.deepEqual(c.namespaces[0]!.access!.clients, [
      { identity: 'uri:spiffe://wiki/mediawiki', operations: all },
      { identity: 'dns:mw1.example', operations: ['read'] },
      { identity: 'cn:mediawiki', operations: all },
      { identity: 'dns:mediawiki', operations: all },
      { identity: 'uri:mediawiki', operations: all },
    ]);
    assert.equal(
      c.warnings[0],
      'namespaces.0.clients.2: "mediawiki" matches subject CN, SAN DNS and SAN URI alike; write cn:, dns: or uri: to say which',
    );
    assert.deepEqual(loadConfig().warnings, []);
  });

  it('refuse a prefix with no identity', () => {
    void assertConfigError(`${mtls}namespaces:\n  - name: s\n    base_uri: /s/\n    clients: ['dns:']\n`, 'namespaces.0.clients.0', /no identity after dns:/);
  });
});

describe('failed_auth_limit', () => {
  it('defaults to 10 failures, then 1 a second, and reads its keys', () => {
    assert.deepEqual(loadConfig().failedAuthLimit, { burst: 10, perSecond: 1 });
    assert.deepEqual(parseConfig('failed_auth_limit: {burst: 3, per_second: 0.5}\n', 'x.yaml').failedAuthLimit, { burst: 3, perSecond: 0.5 });
  });

  it('refuses a zero burst or rate and unknown keys', () => {
    void assertConfigError('failed_auth_limit:\n  burst: 0\n', 'failed_auth_limit.burst');
    void assertConfigError('failed_auth_limit:\n  per_second: 0\n', 'failed_auth_limit.per_second');
    void assertConfigError('failed_auth_limit:\n  brust: 5\n', 'failed_auth_limit.brust', /unknown key/);
  });
});

describe('admin credentials', () => {
  const ca = file('ca.pem', 'not checked here');
  const mtls = `tls:\n  cert: ${cert}\n  key: ${key}\n  ca: ${ca}\n`;
  const sha = 'a'.repeat(64);

  it('default to none, and no authentication: the service endpoints stay open', () => {
    const c = loadConfig();
    assert.equal(c.authentication, false);
    assert.equal(c.admin.access, undefined);
  });

  it('read admin clients (typed) and tokens', () => {
    const c = parseConfig(`${mtls}admin:\n  clients: [uri:spiffe://wiki/prometheus]\n  tokens:\n    - {name: prometheus, sha256: ${sha}}\n`, 'admin.yaml');
    assert.deepEqual(c.admin.access, {
      clients: [{ identity: 'uri:spiffe://wiki/prometheus', operations: ['read', 'write', 'delete'] }],
      tokens: [{ name: 'prometheus', sha256: sha, operations: ['read', 'write', 'delete'] }],
    });
    assert.equal(c.authentication, true);
    // /metrics is no longer open: the one warning says what a scraper must now send.
    assert.equal(c.warnings.length, 1);
    assert.match(c.warnings[0]!, /^admin: \/metrics now needs an admin client \(admin\.clients or admin\.tokens\): a Prometheus scraping without credentials gets 401/);
    assert.match(c.warnings[0]!, /authorization: \{credentials_file: .*\}.*, or a certificate listed in admin\.clients \(tls_config: /);
    const tokensOnly = parseConfig(`admin:\n  tokens: [{name: t, sha256: ${sha}}]\n`, 'x.yaml');
    assert.equal(tokensOnly.warnings.length, 1);
    assert.match(tokensOnly.warnings[0]!, /give it a token of admin\.tokens in its scrape config/);
    assert.doesNotMatch(tokensOnly.warnings[0]!, /admin\.clients \(tls_config/, 'no certificate to give without admin.clients');
  });

  it('serve /metrics on the main listener too unless metrics_on_main_listener is false, which needs a listener of their own', () => {
    assert.equal(loadConfig().admin.metricsOnMainListener, true);
    const apart = parseConfig('admin:\n  listen_port: 9000\n  metrics_on_main_listener: false\n', 'x.yaml');
    assert.equal(apart.admin.metricsOnMainListener, false);
    void assertConfigError('admin:\n  metrics_on_main_listener: false\n', 'admin.metrics_on_main_listener', /admin\.listen_port/);
  });

  it('count tls.ca, namespace tokens or admin tokens as authentication, and warn when no admin client is set', () => {
    const withTokens = parseConfig(`namespaces:\n  - {name: s, base_uri: /s/, tokens: [{name: t, sha256: ${sha}}]}\n`, 'x.yaml');
    assert.equal(withTokens.authentication, true);
    assert.equal(withTokens.warnings.length, 1);
    assert.match(withTokens.warnings[0]!, /^admin: .*set admin\.clients or admin\.tokens so Prometheus can scrape \/metrics$/);
    assert.equal(parseConfig(mtls, 'x.yaml').authentication, true);
    assert.equal(parseConfig(`admin:\n  tokens: [{name: t, sha256: ${sha}}]\n`, 'x.yaml').authentication, true);
    const open = parseConfig('namespaces:\n  - {name: s, base_uri: /s/}\n', 'x.yaml');
    assert.equal(open.authentication, false);
    assert.deepEqual(open.warnings, []);
  });

  it('refuse what cannot work', () => {
    void assertConfigError('admin:\n  clients: [cn:prometheus]\n', 'admin.clients', /tls\.ca/);
    void assertConfigError(`${mtls}admin:\n  clients:\n    - identity: cn:prometheus\n`, 'admin.clients.0');
    void assertConfigError('admin:\n  tokens: [{name: t, sha256: plaintext}]\n', 'admin.tokens.0.sha256');
  });
});

describe('embedded.max_size', () => {
  const maxSize = (value: string): number | undefined => parseConfig(`embedded:\n  max_size: ${value}\n`, 'x.yaml').embedded.maxSize;

  it('is unset by default (the engine picks it from the disk)', () => {
    assert.equal(loadConfig().embedded.maxSize, undefined);
  });

  it('takes bytes, or a size with a decimal or binary unit', () => {
    assert.equal(maxSize('1048576'), 1048576);
    assert.equal(maxSize('512MiB'), 512 * 2 ** 20);
    assert.equal(maxSize('4GiB'), 4 * 2 ** 30);
    assert.equal(maxSize('100MB'), 100e6);
    assert.equal(maxSize('"1.5 GiB"'), 1.5 * 2 ** 30);
    assert.equal(maxSize('2tb'), 2e12);
    assert.equal(maxSize('"3000000"'), 3e6);
    assert.equal(maxSize('1e9'), 1e9); // YAML reads it as a whole number
  });

  for (const bad of ['512 parsecs', '4G', '-1MiB', 'lots', '1.5', 'true', '""']) {
    it(`refuses ${bad}`, () => void assertConfigError(`embedded:\n  max_size: ${bad}\n`, 'embedded.max_size'));
  }
  it('refuses less than 1 MiB', () =>
    void assertConfigError('embedded:\n  max_size: 1000KiB\n', 'embedded.max_size', /must be 1048576–17592186044416 \(bytes, or a size such as 512MiB or 4GiB: 1 MiB to 16 TiB\), got 1000KiB \(1024000 bytes\)$/));
});

describe('conditional writes and serial consistency', () => {
  it('default to plain writes (Kask) at local_serial, for the single namespace and listed ones', () => {
    const single = parseConfig('cassandra:\n  hosts: [a]\n', 'x.yaml').namespaces[0]!;
    assert.equal(single.conditionalWrites, false);
    assert.equal(single.serialConsistency, 'local_serial');
    const listed = parseConfig('namespaces:\n  - {name: a, base_uri: /a/}\n', 'x.yaml').namespaces[0]!;
    assert.equal(listed.conditionalWrites, false);
    assert.equal(listed.serialConsistency, 'local_serial');
  });

  it('read the top-level keys for the single namespace, and as the default of listed ones', () => {
    const single = parseConfig('cassandra:\n  hosts: [a]\nconditional_writes: true\nserial_consistency: serial\n', 'x.yaml');
    assert.equal(single.namespaces[0]!.conditionalWrites, true);
    assert.equal(single.namespaces[0]!.serialConsistency, 'serial');
    assert.deepEqual(single.warnings, []);
    const listed = parseConfig(
      [
        'cassandra:\n  hosts: [a]',
        'conditional_writes: true',
        'namespaces:',
        '  - {name: a, base_uri: /a/}',
        '  - {name: b, base_uri: /b/, conditional_writes: false}',
        '  - {name: c, base_uri: /c/, serial_consistency: serial}',
      ].join('\n'),
      'x.yaml',
    );
    assert.deepEqual(
      listed.namespaces.map((ns) => [ns.name, ns.conditionalWrites, ns.serialConsistency]),
      [
        ['a', true, 'local_serial'],
        ['b', false, 'local_serial'],
        ['c', true, 'serial'],
      ],
    );
  });

  it('warn that serial without conditional_writes does nothing on Cassandra', () => {
    const c = parseConfig('cassandra:\n  hosts: [a]\nnamespaces:\n  - {name: a, base_uri: /a/, serial_consistency: serial}\n', 'x.yaml');
    assert.equal(c.warnings.length, 1);
    assert.match(c.warnings[0]!, /^namespaces\.0\.serial_consistency: .*conditional_writes/);
  });

  it('refuse other values', () => {
    assertConfigError('conditional_writes: yes please\n', 'conditional_writes');
    assertConfigError('serial_consistency: quorum\n', 'serial_consistency', /local_serial or serial/);
    assertConfigError('namespaces:\n  - {name: a, base_uri: /a/, serial_consistency: each_serial}\n', 'namespaces.0.serial_consistency');
    assertConfigError('namespaces:\n  - {name: a, base_uri: /a/, conditional_writes: 1}\n', 'namespaces.0.conditional_writes');
  });
});

describe('a relative embedded.path', () => {
  /** parseConfig with $STATE_DIRECTORY set to `state` (or unset) for the call. */
  const withState = <T>(state: string | undefined, f: () => T): T => {
    const before = process.env.STATE_DIRECTORY;
    if (state === undefined) delete process.env.STATE_DIRECTORY;
    else process.env.STATE_DIRECTORY = state;
    try {
      return f();
    } finally {
      if (before === undefined) delete process.env.STATE_DIRECTORY;
      else process.env.STATE_DIRECTORY = before;
    }
  };
  const path = (yaml: string, file: string | undefined, state?: string): string => withState(state, () => parseConfig(yaml, file).embedded.path);

  it('is beside the config file when systemd sets no $STATE_DIRECTORY', () => {
    assert.equal(path('embedded:\n  path: data\n', '/etc/firkin/config.yaml'), '/etc/firkin/data');
    assert.equal(path('embedded:\n  path: ./store/../data\n', '/srv/app/firkin.yaml'), '/srv/app/data');
    assert.equal(path('', '/srv/app/firkin.yaml'), '/srv/app/data', 'the default ./data too');
  });

  it("is under $STATE_DIRECTORY when it is set (the unit's StateDirectory=), the first of several", () => {
    assert.equal(path('embedded:\n  path: data\n', '/etc/firkin/config.yaml', '/var/lib/firkin'), '/var/lib/firkin/data');
    assert.equal(path('', '/etc/firkin/config.yaml', '/var/lib/firkin:/var/lib/other'), '/var/lib/firkin/data');
    assert.equal(path('embedded:\n  path: .\n', '/etc/firkin/config.yaml', '/var/lib/firkin'), '/var/lib/firkin');
  });

  it('an absolute path is taken as it is; an empty $STATE_DIRECTORY counts as unset', () => {
    assert.equal(path('embedded:\n  path: /data/firkin\n', '/etc/firkin/config.yaml', '/var/lib/firkin'), '/data/firkin');
    assert.equal(path('embedded:\n  path: data\n', '/etc/firkin/config.yaml', ''), '/etc/firkin/data');
  });

  it('without a config file: under $STATE_DIRECTORY, else the working directory', () => {
    assert.equal(dataPath('./data', undefined, { STATE_DIRECTORY: '/var/lib/firkin' }), '/var/lib/firkin/data');
    assert.equal(dataPath('./data', undefined, {}), join(process.cwd(), 'data'));
    assert.equal(withState('/var/lib/firkin', () => loadConfig().embedded.path), '/var/lib/firkin/data');
  });
});

describe('--listen and FIRKIN_LISTEN over the file', () => {
  it('parses PORT, HOST:PORT and [IPv6]:PORT', () => {
    assert.deepEqual(parseListen('8082'), { address: undefined, port: 8082 });
    assert.deepEqual(parseListen('0.0.0.0:80'), { address: '0.0.0.0', port: 80 });
    assert.deepEqual(parseListen('localhost:8081'), { address: 'localhost', port: 8081 });
    assert.deepEqual(parseListen('[::1]:8081'), { address: '::1', port: 8081 });
    assert.deepEqual(parseListen('[2001:db8::5]:0'), { address: '2001:db8::5', port: 0 });
    for (const bad of ['', 'host', 'host:', ':80', '::1:8081', '65536', 'a:b:80', '[::1]', 'host:80x', '[host]:80']) {
      assert.equal(parseListen(bad), undefined, bad);
    }
  });

  it("replace the file's listen_address and listen_port (a port alone keeps the file's address)", () => {
    const yaml = 'listen_address: 10.0.0.1\nlisten_port: 9000\n';
    const c = (value?: string): [string, number] => {
      const r = parseConfig(yaml, 'x.yaml', value === undefined ? {} : { listen: { value, from: '--listen' } });
      return [r.listenAddress, r.listenPort];
    };
    assert.deepEqual(c(), ['10.0.0.1', 9000]);
    assert.deepEqual(c('9001'), ['10.0.0.1', 9001]);
    assert.deepEqual(c('127.0.0.2:9002'), ['127.0.0.2', 9002]);
    assert.deepEqual(c('[::1]:9003'), ['::1', 9003]);
    assert.deepEqual([loadConfig(undefined, { listen: { value: '9004', from: 'FIRKIN_LISTEN' } }).listenPort], [9004]);
  });

  it('refuse what is no address, naming the flag or variable and the file', () => {
    assert.throws(
      () => parseConfig('', '/etc/firkin/config.yaml', { listen: { value: 'localhost:99999', from: 'FIRKIN_LISTEN' } }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.key === 'FIRKIN_LISTEN' &&
        err.message === 'config error in /etc/firkin/config.yaml: FIRKIN_LISTEN: must be PORT, HOST:PORT or [IPv6 address]:PORT, with a port 0–65535',
    );
  });
});
