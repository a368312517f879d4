/** Session keys are credentials: they must never appear in a log line in clear. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { request, rawRequest } from '../helpers/http.js';
import { startTestService } from '../helpers/service.js';

describe('logs', () => {
  it('write Kask-shaped JSON lines and never the key, even at debug level and on errors', async () => {
    const t = await startTestService({ log_level: 'debug', service_name: 'sessionstore', max_value_bytes: 16 });
    const secret = `enwiki:MWSession:${randomBytes(16).toString('hex')}`;
    const encoded = encodeURIComponent(secret);
    const value = `value-${randomBytes(8).toString('hex')}`.slice(0, 16);
    const base = t.base;
    await request(base + encoded, { method: 'PUT', body: value, headers: { 'x-request-id': 'trace-me' } });
    await request(base + encoded);
    await request(base + encoded, { method: 'PUT', body: 'x', headers: { 'if-none-match': '*' } });
    await request(base + encoded, { method: 'PUT', body: 'this body is far too large' });
    await request(base + encoded, { method: 'PATCH' });
    await request(`${base + encoded}?q=1`);
    await request(`${base + encoded}%00`);
    await request(base + encoded, { method: 'DELETE' });
    await rawRequest(t.url, `GET ${new URL(base).pathname}${encoded} HTTP/1.1\r\nHost: x\r\nBroken header\r\n\r\n`);
    await t.close();

    assert.ok(t.logs.length >= 5, `only ${t.logs.length} lines`);
    const lines = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const line of lines) {
      for (const field of ['msg', 'appname', 'time', 'level']) assert.ok(field in line, `${field} missing: ${JSON.stringify(line)}`);
      assert.equal(line.appname, 'sessionstore');
      assert.match(String(line.level), /^(DEBUG|INFO|WARNING|ERROR|FATAL)$/);
    }
    const requestLines = lines.filter((l) => l.msg === 'request');
    assert.ok(requestLines.length >= 6, 'debug level logs each request');
    const traced = requestLines.find((l) => l.request_id === 'trace-me');
    assert.ok(traced, 'request_id is the echoed X-Request-ID');
    assert.match(String(traced.key_hash), /^[A-Za-z0-9_-]{12}$/, 'keys appear only as a keyed hash');
    assert.equal(new Set(requestLines.map((l) => l.key_hash).filter(Boolean)).size, 1, 'one key, one hash');

    const all = t.logs.join('\n');
    for (const needle of [secret, encoded, secret.split(':')[2]!, value]) {
      assert.ok(!all.includes(needle), `log output contains ${needle}`);
    }
  });

  it('start with one line naming version, address, engine and namespaces, and never a credential', async () => {
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const t = await startTestService({
      storage: 'cassandra',
      // Nothing listens on port 1: the engine logs its failed connections, which must not carry the password.
      cassandra: { hosts: ['127.0.0.1'], port: 1, connect_timeout_ms: 300, authentication: { username: 'firkin', password } },
      namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/' }],
    });
    await request(`${t.base}k`);
    await t.close();
    const lines = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    const listening = lines.filter((l) => l.msg === 'listening');
    assert.equal(listening.length, 1);
    const [line] = listening;
    assert.equal(line!.url, t.url);
    assert.equal(line!.engine, 'cassandra');
    assert.match(String(line!.version), /^\d+\.\d+\.\d+/);
    assert.deepEqual(line!.namespaces, [{ name: 'sessions', base_uri: '/sessions/v1/', default_ttl: 86400 }]);
    assert.ok(lines.some((l) => l.msg === 'storage unavailable'), 'the failed request was logged');
    assert.ok(!t.logs.join('\n').includes(password), 'the Cassandra password is never logged');
  });
});
