/** SIGHUP reloads the TLS certificate and key: new connections get the new one, open ones stay. */
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import { pem, TestCa } from '../helpers/pki.js';
import { spawnFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

function get(url: string, agent: Agent | false, ca: Buffer): Promise<{ status: number; serial: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { agent, ca }, (res) => {
      const socket = res.socket as TLSSocket;
      const serial = socket.getPeerCertificate().serialNumber;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, serial, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('TLS reload', () => {
  it('swaps the certificate on SIGHUP without dropping open connections', async () => {
    const ca = new TestCa();
    const first = ca.server('first');
    const second = ca.server('second');
    const dir = tempDir();
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    copyFileSync(first.cert, cert);
    copyFileSync(first.key, key);
    const f = await spawnFirkin(dir, { embedded: { path: 'data' }, tls: { cert, key } });
    const caPem = pem(ca.cert);
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });

    const before = await get(`${f.url}/healthz`, keepAlive, caPem);
    assert.equal(before.status, 200);
    copyFileSync(second.cert, cert);
    copyFileSync(second.key, key);
    f.child.kill('SIGHUP');
    await sleep(300);

    const fresh = await get(`${f.url}/healthz`, false, caPem);
    assert.notEqual(fresh.serial, before.serial, 'a new connection gets the new certificate');
    const kept = await get(`${f.url}/healthz`, keepAlive, caPem);
    assert.equal(kept.status, 200);
    assert.ok(kept.reused, 'the open connection was kept');
    assert.equal(kept.serial, before.serial, 'and still speaks with the old certificate');
    assert.ok(f.stdout.some((l) => l.includes('TLS certificate, key and CA reloaded')));

    // A broken file on reload keeps the current certificate in use.
    copyFileSync(first.key, cert);
    f.child.kill('SIGHUP');
    await sleep(300);
    assert.equal((await get(`${f.url}/healthz`, false, caPem)).serial, fresh.serial);
    const refused = f.stdout.find((l) => l.includes('TLS files not reloaded'));
    assert.ok(refused?.includes(`tls.cert (${cert}): is not a PEM certificate`), `the log names the key and the file: ${refused}`);
    keepAlive.destroy();
    f.child.kill('SIGTERM');
    assert.equal(await f.exited, 0);
  });
});
