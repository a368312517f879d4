/**
 * deploy/prometheus/alerts.yml as shipped: promtool checks it and runs its unit tests
 * (deploy/prometheus/alerts.test.yml), and fails this file on any error; every alert is
 * unit-tested both firing and not, has a runbook in docs/operations.md (and a row in its
 * table with the same `for` and severity), and queries only metrics Firkin exports.
 * (A real Prometheus scraping a running Firkin: prometheus.test.ts.)
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { request } from '../helpers/http.js';
import { scrape } from '../helpers/prometheus.js';
import { promtool } from '../helpers/prometheus-server.js';
import { family, metricNames, pendingReason } from '../helpers/promql.js';
import { startTestService } from '../helpers/service.js';

const repoFile = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url));
const RULES = repoFile('deploy/prometheus/alerts.yml');
const TESTS = repoFile('deploy/prometheus/alerts.test.yml');

interface Rule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}
const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
interface TestCase {
  readonly alert_rule_test?: { alertname: string; exp_alerts: unknown[] | null }[];
}
const cases = (parse(readFileSync(TESTS, 'utf8')) as { tests: TestCase[] }).tests.flatMap((t) => t.alert_rule_test ?? []);
const operations = readFileSync(repoFile('docs/operations.md'), 'utf8');

describe('the alert rules (deploy/prometheus/alerts.yml)', () => {
  it('pass promtool check rules', () => {
    const r = promtool('check', 'rules', RULES);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, new RegExp(`SUCCESS: ${rules.length} rules found`));
    assert.ok(rules.length >= 10 && rules.every((rule) => rule.alert !== undefined), 'alerting rules only');
  });

  it('pass their unit tests (promtool test rules deploy/prometheus/alerts.test.yml)', () => {
    const r = promtool('test', 'rules', TESTS);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /SUCCESS/);
    assert.doesNotMatch(r.output, /FAILED/);
  });

  it('are each unit-tested firing and not firing', () => {
    for (const { alert } of rules) {
      const mine = cases.filter((c) => c.alertname === alert);
      assert.ok(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${alert}: no test where it fires`);
      assert.ok(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${alert}: no test where it stays quiet`);
    }
    for (const c of cases) assert.ok(rules.some((r) => r.alert === c.alertname), `a test of ${c.alertname}, which is no alert`);
  });

  it('each carry a severity, a summary, a description and a runbook in docs/operations.md', () => {
    const section = operations.slice(operations.indexOf('\n## Alerts and runbooks\n'));
    assert.ok(section.length > 100, 'docs/operations.md has "Alerts and runbooks"');
    const body = section.slice(0, section.indexOf('\n## ', 5));
    for (const rule of rules) {
      assert.match(rule.labels?.severity ?? '', /^(critical|warning|info)$/, `${rule.alert}: severity`);
      assert.ok(rule.annotations?.summary && rule.annotations.description, `${rule.alert}: summary and description`);
      assert.equal(rule.annotations?.runbook, `docs/operations.md, "${rule.alert}"`, `${rule.alert}: runbook`);
      const at = body.indexOf(`\n### ${rule.alert}\n`);
      assert.ok(at >= 0, `docs/operations.md has a runbook headed ${rule.alert}`);
      const runbook = body.slice(at, body.indexOf('\n### ', at + 5) >>> 0);
      for (const part of ['**Means**', '**Confirm**', '**Do**']) assert.ok(runbook.includes(part), `${rule.alert}'s runbook: ${part}`);
      const row = body.split('\n').find((l) => l.startsWith(`| \`${rule.alert}\` |`));
      assert.ok(row, `the table of alerts has ${rule.alert}`);
      const cells = row.split(' | ').map((c) => c.replace(/^\| |\s*\|$/g, ''));
      assert.equal(cells.at(-2), rule.for ?? '—', `${rule.alert}: for`);
      assert.equal(cells.at(-1), rule.labels?.severity, `${rule.alert}: severity in the table`);
    }
    const headed = [...body.matchAll(/^### (\S+)$/gm)].map((m) => m[1]);
    assert.deepEqual(headed, rules.map((r) => r.alert), 'one runbook per alert, in the file\'s order');
  });

  it('query only metrics Firkin exports', async (t) => {
    const s = await startTestService();
    await request(`${s.base}enwiki:MWSession:alerts-metrics-1`, { method: 'PUT', body: 'v' });
    await request(`${s.base}enwiki:MWSession:alerts-metrics-1`);
    const scraped = await scrape(s.url);
    const families = new Set([...scraped.text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const used = new Set(rules.flatMap((r) => metricNames(r.expr)));
    assert.ok(used.size >= 10, `the rules use ${[...used].join(', ')}`);
    for (const name of used) {
      if (name === 'up') continue; // Prometheus' own, per target
      const pending = pendingReason(name);
      if (pending !== undefined && !families.has(family(name))) {
        t.diagnostic(`${name}: not exported yet, awaited from ${pending}`);
        continue;
      }
      assert.ok(families.has(family(name)), `the rules query ${name}, which Firkin does not export`);
    }
  });
});

describe('metricNames', () => {
  it('finds the metrics of an expression, not its functions, keywords, labels or durations', () => {
    assert.deepEqual(
      metricNames('sum by (job, le) (rate(a_total{code=~"5..", x="y z"}[5m])) / ignoring(code) b_total > 1e3 or (c unless c offset 15m) and on (job) d{engine="e"} > 0.5'),
      ['a_total', 'b_total', 'c', 'd'],
    );
    assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (le) (rate(h_bucket{instance=~"$instance"}[$__rate_interval])))'), ['h_bucket']);
  });
});
