import { request, type RequestOptions } from './http.js';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parse the Prometheus text format (the subset prom-client writes). */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

export interface Scrape {
  readonly text: string;
  readonly samples: readonly Sample[];
  /** Sum of the samples named `name` whose labels include `labels`. */
  value(name: string, labels?: Record<string, string>): number;
  has(name: string): boolean;
}

/** Read `${url}/metrics`; `options` carry admin credentials where authentication is configured. */
export async function scrape(url: string, options: RequestOptions = {}): Promise<Scrape> {
  const reply = await request(`${url}/metrics`, options);
  if (reply.status !== 200) throw new Error(`/metrics answered ${reply.status}`);
  const text = reply.body.toString('utf8');
  const samples = parsePrometheus(text);
  return {
    text,
    samples,
    has: (name) => samples.some((s) => s.name === name),
    value: (name, labels = {}) =>
      samples
        .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        .reduce((sum, s) => sum + s.value, 0),
  };
}
