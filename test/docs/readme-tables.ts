/** The module tables of README.md's "A request's path", each marked by an HTML comment naming it. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));

/** The backticked `src/…` module of each row of the table after `<!-- marker… -->`. */
export function readmeTable(marker: string): string[] {
  const text = readmeTable.text();
  const at = text.indexOf(`<!-- ${marker}`);
  if (at === -1) throw new Error(`README.md has no table marked "${marker}"`);
  const rows: string[] = [];
  for (const line of text.slice(at).split('\n').slice(1)) {
    if (line.startsWith('|---') || line.startsWith('| module')) continue;
    if (!line.startsWith('|')) {
      if (rows.length > 0) break;
      continue;
    }
    const m = /^\| `(src\/[^`]+)` \|/.exec(line);
    if (m === null) throw new Error(`README.md, table "${marker}": a row without a module: ${line}`);
    rows.push(m[1]!);
  }
  return rows;
}
readmeTable.text = (): string => readFileSync(README, 'utf8');
