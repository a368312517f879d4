/**
 * The operator docs stay true: every metric Firkin exports is documented in
 * docs/operations.md, and every metric the Grafana dashboard queries exists (but for
 * those other branches add, while they are not merged: test/helpers/promql.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from '../helpers/http.js';
import { scrape } from '../helpers/prometheus.js';
import { pendingReason } from '../helpers/promql.js';
import { startTestService } from '../helpers/service.js';

const docs = (file: string): string => readFileSync(fileURLToPath(new URL(`../../../docs/${file}`, import.meta.url)), 'utf8');

async function exportedFamilies(): Promise<Set<string>> {
  const t = await startTestService();
  await request(`${t.base}k`, { method: 'POST', body: 'v' });
  await request(`${t.base}k`);
  const m = await scrape(t.url);
  return new Set([...m.text.matchAll(/^# TYPE (\S+) /gm)].map((x) => x[1]!));
}

describe('operations docs', () => {
  it('document every metric Firkin exports', async () => {
    const text = docs('operations.md');
    for (const family of await exportedFamilies()) {
      if (family.startsWith('process_') || family.startsWith('nodejs_')) continue; // prom-client's, documented as a group
      assert.ok(text.includes(`\`${family}\``), `${family} is not in docs/operations.md`);
    }
  });

  it('ship a Grafana dashboard that queries only metrics that exist', async (t) => {
    const dashboard = JSON.parse(docs('grafana-dashboard.json')) as { panels: { targets: { expr: string }[] }[] };
    const families = await exportedFamilies();
    const used = new Set<string>();
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        for (const [, name] of target.expr.matchAll(/([a-z_][a-z0-9_]*)\{/g)) used.add(name!);
      }
    }
    assert.ok(used.size >= 10, `the dashboard uses ${used.size} metrics`);
    for (const name of used) {
      const family = name.replace(/_(bucket|sum|count)$/, '');
      const pending = pendingReason(name);
      if (pending !== undefined && !families.has(family)) {
        t.diagnostic(`${name}: not exported yet, awaited from ${pending}`);
        continue;
      }
      assert.ok(families.has(family) || families.has(name), `the dashboard queries ${name}, which Firkin does not export`);
    }
  });
});
