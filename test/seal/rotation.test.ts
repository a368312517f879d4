/**
 * Rotating a sealed namespace's keys without logging anyone out, through real
 * `firkin serve` restarts and `firkin keys status`: three keys, one after another
 * active; sessions written under each stay readable until their key leaves the
 * keyring (a touch moves a session to the active key); a keyring without its active
 * key is refused; SIGHUP loads a changed keyring without failing a request, and keeps
 * the old one when the new one is broken. No key material ever reaches an output.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { request } from '../helpers/http.js';
import { runFirkin, spawnFirkin, type FirkinProcess } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

describe('key rotation of a sealed namespace', () => {
  it('keeps every session readable until its key leaves the keyring, and says where records are', { timeout: 180_000 }, async () => {
    const dir = tempDir();
    const secrets = { k1: randomBytes(32), k2: randomBytes(32), k3: randomBytes(32) };
    for (const [id, secret] of Object.entries(secrets)) writeFileSync(join(dir, id), secret, { mode: 0o600 });
    const configFile = join(dir, 'config.yaml');
    const config = (active: string, ids: string[]): Record<string, unknown> => ({
      embedded: { path: join(dir, 'data') },
      keyring: { active, keys: ids.map((id) => ({ id, file: join(dir, id) })) },
      sealed: true,
    });
    const writeConfig = (c: Record<string, unknown>): void => writeFileSync(configFile, stringify({ listen_port: 0, workers: 1, metrics_max_age_ms: 0, ...c }), { mode: 0o600 });
    const outputs: string[] = [];
    const status = (): string => {
      const r = runFirkin('keys', 'status', '--config', configFile);
      outputs.push(r.stdout, r.stderr);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    const start = async (c: Record<string, unknown>): Promise<FirkinProcess> => spawnFirkin(dir, c, { args: (file) => ['serve', '--config', file] });
    const stop = async (f: FirkinProcess): Promise<void> => {
      f.child.kill('SIGTERM');
      assert.equal(await f.exited, 0);
      outputs.push(f.stdout.join('\n'), f.stderr);
    };
    const session = (label: string, i: number): string => `enwiki:MWSession:rotation-${label}-${i}-${randomBytes(6).toString('hex')}`;
    const at = (f: FirkinProcess, key: string): string => `${f.url}/sessions/v1/${encodeURIComponent(key)}`;
    const read = async (f: FirkinProcess, key: string): Promise<number> => (await request(at(f, key))).status;

    // Step 1: k1 alone.
    let f = await start(config('k1', ['k1']));
    const s1 = Array.from({ length: 10 }, (_, i) => session('s1', i));
    for (const k of s1) assert.equal((await request(at(f, k), { method: 'PUT', body: 'under k1' })).status, 201);
    await stop(f);
    writeConfig(config('k1', ['k1']));
    assert.match(status(), /namespace default \(sealed\): live records: k1 \(active\) 10\n/);

    // Step 2: k2 active, k1 kept. Old sessions read; half of them touched (moved); new ones under k2.
    f = await start(config('k2', ['k1', 'k2']));
    for (const k of s1) assert.equal(await read(f, k), 200, 'a session under k1 reads while k1 is in the keyring');
    const touched = s1.slice(0, 5);
    for (const k of touched) assert.equal((await request(at(f, k), { method: 'PATCH' })).status, 204);
    const s2 = Array.from({ length: 10 }, (_, i) => session('s2', i));
    for (const k of s2) assert.equal((await request(at(f, k), { method: 'PUT', body: 'under k2' })).status, 201);
    await stop(f);
    writeConfig(config('k2', ['k1', 'k2']));
    assert.match(status(), /live records: k2 \(active\) 15, k1 5\n/);

    // Removing the active key is refused (exit 2, naming it).
    writeConfig(config('k2', ['k1', 'k3']));
    const refused = runFirkin('check-config', '--config', configFile);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /keyring.active: names k2, which is not among keyring.keys/);

    // Step 3: k3 active, k1 removed: the sessions still under k1 are gone, the touched ones are not.
    f = await start(config('k3', ['k2', 'k3']));
    for (const k of touched) assert.equal(await read(f, k), 200, 'a touched session moved to k2 and stays');
    for (const k of s1.slice(5)) assert.equal(await read(f, k), 404, 'a session left under k1 is gone with k1');
    for (const k of s2) assert.equal(await read(f, k), 200);
    const s3 = Array.from({ length: 4 }, (_, i) => session('s3', i));
    for (const k of s3) assert.equal((await request(at(f, k), { method: 'PUT', body: 'under k3' })).status, 201);
    writeConfig(config('k3', ['k2', 'k3']));
    // Records under k1 stay until they expire: unreadable, and counted apart.
    assert.match(status(), /live records: k3 \(active\) 4, k2 15, k1 \(not in the keyring\) 5\n/);

    // SIGHUP with a changed keyring (k2 active again): no request fails meanwhile; new writes go under k2.
    writeConfig(config('k2', ['k2', 'k3']));
    let failures = 0;
    let reads = 0;
    let running = true;
    const reader = (async () => {
      while (running) {
        reads++;
        if ((await read(f, s2[reads % s2.length]!)) !== 200) failures++;
      }
    })();
    f.child.kill('SIGHUP');
    await until(() => f.stdout.some((l) => l.includes('"keyring reloaded"')), 'the keyring to reload');
    running = false;
    await reader;
    assert.equal(failures, 0, `${failures} of ${reads} reads failed across the reload`);
    assert.equal((await request(at(f, session('s4', 0)), { method: 'PUT', body: 'under k2 again' })).status, 201);
    assert.match(status(), /live records: k2 \(active\) 16, k3 4, k1 \(not in the keyring\) 5\n/);

    // A broken keyring on SIGHUP: refused, the one in use stays.
    writeConfig(config('k9', ['k2', 'k3']));
    f.child.kill('SIGHUP');
    await until(() => f.stdout.some((l) => l.includes('"keyring not reloaded; the previous one stays in use"')), 'the refusal');
    for (const k of s3) assert.equal(await read(f, k), 200, 'served with the keyring kept');
    await stop(f);

    // No key material, in any encoding, in anything Firkin wrote.
    const all = outputs.join('\n');
    for (const secret of Object.values(secrets)) {
      for (const form of [secret.toString('hex'), secret.toString('base64'), secret.toString('base64url')]) assert.ok(!all.includes(form), 'a key in an output');
    }
  });
});
