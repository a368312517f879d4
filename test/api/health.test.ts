/** /healthz is cheap liveness; /readyz asks the engine and says 503 when it cannot answer. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { version } from '../../src/base/version.js';

const VERSION = version();
import { request } from '../helpers/http.js';
import { scrape } from '../helpers/prometheus.js';
import { startTestService } from '../helpers/service.js';

describe('health and readiness', () => {
  it('/healthz answers 200 with build data, whatever the engine', async () => {
    const t = await startTestService({ service_name: 'sessionstore' });
    await t.service.engine.close(); // liveness does not touch storage
    const reply = await request(`${t.url}/healthz`);
    assert.equal(reply.status, 200);
    const body = reply.json();
    assert.equal(body.status, 'ok');
    assert.equal(body.version, VERSION);
    assert.equal(body.node_version, process.version);
    assert.equal(body.service, 'sessionstore');
    assert.equal((await request(`${t.url}/healthz`, { method: 'HEAD' })).status, 200);
    const post = await request(`${t.url}/healthz`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  it('/readyz is 200 while the engine answers and 503 with the reason once it does not', async () => {
    const t = await startTestService();
    const ok = await request(`${t.url}/readyz`);
    assert.equal(ok.status, 200);
    assert.equal(ok.json().status, 'ready');
    assert.equal((await scrape(t.url)).value('firkin_storage_ready'), 1);

    await t.service.engine.close();
    const down = await request(`${t.url}/readyz`);
    assert.equal(down.status, 503);
    assert.match(down.headers['content-type']!, /^application\/problem\+json/);
    assert.match(String(down.json().detail), /embedded engine.*closed/);
    assert.equal((await scrape(t.url)).value('firkin_storage_ready'), 0);
  });
});
