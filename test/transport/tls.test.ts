/** Kask's tls.cert / tls.key serve HTTPS; test certificates are made here, never committed. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startTestService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' });
  return { cert, key };
}

function httpsCall(url: string, ca: Buffer, method: string, body?: string, minVersion?: 'TLSv1.1'): Promise<{ status: number; body: string; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, ca, agent: false, ...(minVersion ? { minVersion, maxVersion: minVersion, ciphers: 'DEFAULT:@SECLEVEL=0' } : {}) }, (res) => {
      let data = '';
      res.on('data', (c: Buffer) => (data += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data, protocol: (res.socket as import('node:tls').TLSSocket).getProtocol() ?? '' }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('TLS (Kask tls.cert and tls.key)', () => {
  it('serves the API over HTTPS with TLS 1.2 or newer', async () => {
    const { cert, key } = selfSigned(tempDir());
    const t = await startTestService({ tls: { cert, key } });
    assert.match(t.url, /^https:\/\//);
    const ca = readFileSync(cert);
    assert.equal((await httpsCall(`${t.base}secure`, ca, 'PUT', 'over tls')).status, 201);
    const got = await httpsCall(`${t.base}secure`, ca, 'GET');
    assert.equal(got.body, 'over tls');
    assert.match(got.protocol, /^TLSv1\.[23]$/);
    await assert.rejects(httpsCall(`${t.base}secure`, ca, 'GET', undefined, 'TLSv1.1'), 'TLS 1.1 is refused');
  });
});
