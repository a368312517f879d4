/**
 * What PromQL in the shipped monitoring files (deploy/prometheus/alerts.yml, the Grafana
 * dashboard) names, checked against what Firkin exports; and the metrics that other work
 * adds, named before it is merged.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'inf', 'nan']);

/** The metric names an expression selects (functions, keywords, label names and values left out). */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\boffset\s+-?\d+[smhdwy]+/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' '); // Grafana variables
  const names = new Set<string>();
  for (const m of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = bare.slice(m.index + m[0].length);
    if (/^\s*\(/.test(after) || KEYWORDS.has(m[0].toLowerCase())) continue;
    if (/^\d/.test(m[0]) || /[0-9.]$/.test(bare.slice(0, m.index))) continue; // a number's exponent or unit
    names.add(m[0]);
  }
  return [...names];
}

/** The family a sample name belongs to (a histogram's _bucket, _sum, _count). */
export const family = (name: string): string => name.replace(/_(bucket|sum|count)$/, '');

/**
 * Metrics that work on other branches adds (the rules and the dashboard use them already):
 * each is let off the checks only while src/metrics/metrics.ts does not declare it; once the
 * branch is merged it is checked like any other, so a name that changed on the way fails.
 */
export const PENDING_METRICS: Readonly<Record<string, string>> = {
  firkin_sealed_open_failures_total: 'sealed namespaces (branch sealed)',
  firkin_embedded_damaged_records_total: "the embedded engine's record checksums (branch hard-storage)",
};

const METRICS_SOURCE = fileURLToPath(new URL('../../../src/metrics/metrics.ts', import.meta.url));

/** Why `name` may be missing from a scrape (pending and not declared yet), or undefined. */
export function pendingReason(name: string): string | undefined {
  const why = PENDING_METRICS[name];
  if (why === undefined) return undefined;
  return readFileSync(METRICS_SOURCE, 'utf8').includes(`'${name}'`) ? undefined : why;
}
