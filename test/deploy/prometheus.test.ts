// test-tier: full (a real Prometheus and a real `firkin serve`, some 15–30 s; needs the prometheus program)
/**
 * A real Prometheus (Debian's, as scripts/prerequisites.mjs provisions it) scrapes a running
 * `firkin serve` through its admin listener, with the admin token the docs tell operators
 * to give it, evaluates deploy/prometheus/alerts.yml, and fires the alerts whose conditions
 * the test makes true: writes refused with 507 by an embedded store at a tiny
 * embedded.max_size (FirkinStoreFull, FirkinStoreNearlyFull), failed authentications
 * (FirkinAuthFailureSpike), a target that does not answer (FirkinScrapeFailing); seen
 * through Prometheus' HTTP API (/api/v1/alerts).
 *
 * The rules are the shipped file with one change: every `for:` (minutes in production) is
 * cut to 2 s, so that the test can see them fire within seconds; the expressions, labels and
 * annotations are those shipped. Scrapes and evaluations run every second.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { request } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
import { freePort, startPrometheus, type Alert } from '../helpers/prometheus-server.js';
import { rememberCredentialOf, tokenHash } from '../helpers/secrets.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const RULES = readFileSync(fileURLToPath(new URL('../../../deploy/prometheus/alerts.yml', import.meta.url)), 'utf8');
const FOR = /^(\s+)for: \S+$/gm;
/** The shipped rules with every `for:` cut to 2 s. */
function shortRules(): string {
  const withFor = (parse(RULES) as { groups: { rules: { for?: string }[] }[] }).groups.flatMap((g) => g.rules).filter((r) => r.for !== undefined);
  const cut = RULES.replace(FOR, '$1for: 2s');
  assert.equal([...RULES.matchAll(FOR)].length, withFor.length, 'every for: of the rules is cut');
  return cut;
}

const ADMIN_TOKEN = `prometheus-${randomBytes(16).toString('hex')}`;
/** Alerts the scenario must not fire: nothing in it is a 5xx, a storage error or a 429. */
const QUIET = ['FirkinHighErrorRatio', 'FirkinStorageErrors', 'FirkinStorageUnavailable', 'FirkinCassandraUnreachable', 'FirkinThrottling', 'FirkinDamagedRecords', 'FirkinNamespaceTruncated'];

describe('a real Prometheus with the shipped alert rules', () => {
  it('scrapes Firkin through the admin listener with its token, and fires alerts when their conditions hold', { timeout: 120_000 }, async (t) => {
    rememberCredentialOf(`Bearer ${ADMIN_TOKEN}`); // Firkin's log is checked for it at the end
    const firkin = await spawnFirkin(tempDir(), {
      embedded: { path: './data', max_size: '1MiB' },
      admin: { listen_address: '127.0.0.1', listen_port: 0, tokens: [{ name: 'prometheus', sha256: tokenHash(ADMIN_TOKEN) }] },
      failed_auth_limit: { burst: 1_000_000, per_second: 1000 }, // the failures stay 401s, never 429
    });
    const listening = firkin.stdout.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'listening')!;
    const adminTarget = new URL(String(listening.admin_url)).host;
    assert.ok(
      firkin.stdout.some((l) => l.includes('/metrics now needs an admin client')),
      'the start-up warning tells the operator what a scraper now needs',
    );
    const deadTarget = `127.0.0.1:${await freePort()}`;

    const prometheus = await startPrometheus(
      [
        'global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}',
        'rule_files: [alerts.yml]',
        'scrape_configs:',
        '  - job_name: firkin',
        '    authorization: {credentials_file: firkin-token}',
        `    static_configs: [{targets: ['${adminTarget}', '${deadTarget}']}]`,
        '',
      ].join('\n'),
      { 'alerts.yml': shortRules(), 'firkin-token': `${ADMIN_TOKEN}\n` },
    );
    const started = Date.now();
    await until(async () => (await prometheus.query(`up{instance="${adminTarget}"} == 1`)).length === 1, 'the first scrape of Firkin with the token', 15_000, 200);
    const scraped = await prometheus.query('firkin_build_info');
    assert.equal(scraped[0]?.metric.engine, 'embedded');
    t.diagnostic(`first scrape ${Date.now() - started} ms after Prometheus was ready`);

    // Fill the store: 64 KiB values until a write gets 507 (1 MiB: a dozen or so).
    const base = `${firkin.url}/sessions/v1/`;
    const value = randomBytes(64 * 1024);
    let stored = 0;
    for (;;) {
      const r = await request(`${base}enwiki:MWSession:${randomBytes(8).toString('hex')}`, { method: 'PUT', body: value });
      if (r.status === 507) break;
      assert.equal(r.status, 201);
      assert.ok(++stored < 200, 'the store filled up');
    }
    const conditionsTrue = Date.now();

    // Keep the conditions true while Prometheus watches: refused writes, and failed authentications
    // (/metrics on the main listener with a wrong token: 401).
    let running = true;
    const load = (async () => {
      while (running) {
        await request(`${base}enwiki:MWSession:${randomBytes(8).toString('hex')}`, { method: 'PUT', body: value });
        for (let i = 0; i < 3; i++) await request(`${firkin.url}/metrics`, { headers: { authorization: `Bearer wrong-${randomBytes(8).toString('hex')}` } });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const expected = {
      FirkinStoreFull: { instance: adminTarget, namespace: 'default' },
      FirkinStoreNearlyFull: { instance: adminTarget },
      FirkinAuthFailureSpike: { instance: adminTarget },
      FirkinScrapeFailing: { instance: deadTarget },
    } as const;
    const firedAt: Record<string, number> = {};
    let alerts: Alert[] = [];
    try {
      await until(
        async () => {
          alerts = await prometheus.alerts();
          for (const [name, labels] of Object.entries(expected)) {
            const a = alerts.find((x) => x.labels.alertname === name && x.state === 'firing');
            if (a === undefined || firedAt[name] !== undefined) continue;
            for (const [k, v] of Object.entries(labels)) assert.equal(a.labels[k], v, `${name}: ${k}`);
            assert.equal(a.labels.job, 'firkin');
            assert.equal(a.annotations.runbook, `docs/operations.md, "${name}"`);
            firedAt[name] = Date.now();
          }
          return Object.keys(firedAt).length === Object.keys(expected).length;
        },
        `alerts ${Object.keys(expected).join(', ')} to fire (Prometheus log: ${prometheus.log().slice(-2000)})`,
        45_000,
        250,
      );
    } finally {
      running = false;
      await load;
    }
    for (const name of QUIET) {
      assert.ok(!alerts.some((a) => a.labels.alertname === name), `${name} is not active: ${JSON.stringify(alerts.filter((a) => a.labels.alertname === name))}`);
    }
    const full = alerts.find((a) => a.labels.alertname === 'FirkinStoreFull')!;
    assert.equal(full.annotations.summary, `Firkin ${adminTarget}: writes to namespace default get 507 (store full)`);
    t.diagnostic(
      `stored ${stored} values before the first 507; fired after the condition held: ` +
        Object.entries(firedAt)
          .map(([name, at]) => `${name} ${((at - (name === 'FirkinScrapeFailing' ? started : conditionsTrue)) / 1000).toFixed(1)} s`)
          .join(', ') +
        ` (FirkinScrapeFailing counted from Prometheus' start); also active: ${[...new Set(alerts.map((a) => `${a.labels.alertname} (${a.state})`))].join(', ')}`,
    );
  });
});
