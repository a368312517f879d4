/**
 * Counters and histograms for the request path: each labelled series is a plain
 * object the caller keeps, so counting a request is an addition and a bucket
 * search, with no label hashing or validation (prom-client's labelled children
 * hash and check their labels on every call: 10 % of the CPU of a GET served from
 * the embedded engine, docs/benchmarks.md).
 *
 * They register in a prom-client Registry like its own metrics and export in the
 * same shape (`get()`), so the text exposition, the JSON the primary aggregates
 * across workers, and the series' names and labels are unchanged.
 */
import type { Registry } from 'prom-client';
import { registerCustomMetric } from '../base/internals.js';

type Labels = Readonly<Record<string, string>>;

interface ExportedValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

interface Exported {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: ExportedValue[];
  aggregator: 'sum';
}

export interface SeriesOptions {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly registry: Registry;
}

abstract class Series<S extends { readonly labels: Labels; reset(): void }> {
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly labelNames: readonly string[];
  protected readonly series = new Map<string, S>();

  constructor(options: SeriesOptions) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    registerCustomMetric(options.registry, this); // prom-client's metric protocol: base/internals.ts
  }

  /** The series for these labels, created on first use: keep it, and count through it. */
  protected seriesFor(labels: Labels, create: (labels: Labels) => S): S {
    const id = this.labelNames.map((name) => labels[name] ?? '').join('\u0000');
    let s = this.series.get(id);
    if (s === undefined) {
      s = create(Object.fromEntries(this.labelNames.map((name) => [name, labels[name] ?? ''])));
      this.series.set(id, s);
    }
    return s;
  }

  /**
   * prom-client's Registry calls this on resetMetrics(). The series are zeroed in place,
   * not dropped (their users keep references to them); like prom-client's, none is
   * exported again until it counts something.
   */
  reset(): void {
    for (const s of this.series.values()) s.reset();
  }
}

export class CounterSeries {
  value = 0;
  /** Exported once counted, as prom-client creates a series on its first inc(). */
  used = false;

  constructor(readonly labels: Labels) {}

  inc(n = 1): void {
    if (!(n >= 0 && n < Infinity)) return; // never from a timer or a length; prom-client would throw
    this.value += n;
    this.used = true;
  }

  reset(): void {
    this.value = 0;
    this.used = false;
  }
}

export class FastCounter extends Series<CounterSeries> {
  readonly type = 'counter';

  /** The series with these labels: keep it, and count with `series.inc(n)`. */
  labels(labels: Labels): CounterSeries {
    return this.seriesFor(labels, (l) => new CounterSeries(l));
  }

  get(): Exported {
    const values: ExportedValue[] = [];
    for (const s of this.series.values()) if (s.used) values.push({ value: s.value, labels: { ...s.labels } });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last one is beyond the largest bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return; // never from a timer; prom-client would throw
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

export class FastHistogram extends Series<HistogramSeries> {
  readonly type = 'histogram';
  /** Upper bounds of the buckets, ascending (+Inf implied). */
  private readonly bounds: readonly number[];

  constructor(options: SeriesOptions & { readonly buckets: readonly number[] }) {
    super(options);
    this.bounds = options.buckets;
  }

  labels(labels: Labels): HistogramSeries {
    return this.seriesFor(labels, (l) => new HistogramSeries(l, this.bounds));
  }

  /** As prom-client's Histogram exports: cumulative buckets (`le` first), +Inf, sum, count. */
  get(): Exported {
    const values: ExportedValue[] = [];
    for (const s of this.series.values()) {
      if (s.count === 0) continue; // observed nothing yet: prom-client creates a series on its first observe()
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ value: cumulative, metricName: `${this.name}_bucket`, labels: { le, ...s.labels } });
      });
      values.push({ value: s.count, metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...s.labels } });
      values.push({ value: s.sum, metricName: `${this.name}_sum`, labels: { ...s.labels } });
      values.push({ value: s.count, metricName: `${this.name}_count`, labels: { ...s.labels } });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
