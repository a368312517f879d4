/**
 * Prometheus metrics (prom-client), one registry per service.
 *
 * Kask's names and buckets come first, so existing dashboards keep working:
 * `http_requests_total{code,method}` and `http_request_duration_seconds{code,method}`
 * (Firkin adds a `namespace` label), and `kask_build_info` with Kask's labels. Then Firkin's own, all prefixed `firkin_`:
 * per-operation outcomes and latency on the HTTP side and on the storage side,
 * write-pattern insight, readiness, admin truncations, the embedded store's size
 * and entries (embedded engine only), and Node.js process metrics.
 *
 * Label values are bounded: methods outside the six served become OTHER, and
 * no label ever carries a session key or its hash.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Operation } from '../base/operations.js';
import { version } from '../base/version.js';
import type { TruncationResult } from '../api/truncate.js';
import type { SpaceReport } from '../storage/engine.js';
import { FastCounter, FastHistogram, type CounterSeries, type HistogramSeries } from './series.js';

/** Kask's latency buckets (seconds), kept for its two metrics. */
export const KASK_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** Finer buckets for Firkin's own latencies: the embedded engine answers in tens of microseconds. */
export const FINE_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH']);
export function methodLabel(method: string | undefined): string {
  return method !== undefined && METHODS.has(method) ? method : 'OTHER';
}

/** A request's series are found by number (issue 24: no string built per request). 0: OTHER, or none. */
const METHOD_INDEX = new Map([...METHODS].map((m, i) => [m, i + 1]));
const OPERATION_INDEX: Readonly<Record<Operation, number>> = { read: 1, write: 2, delete: 3, touch: 4 };

interface RequestSeries {
  readonly count: CounterSeries;
  readonly duration: HistogramSeries;
  readonly operation: CounterSeries | undefined;
  readonly operationDuration: HistogramSeries | undefined;
}

/** The two series of one storage call's outcome (its count and its duration): keep it, and record through it. */
export interface StorageSeries {
  readonly count: CounterSeries;
  readonly duration: HistogramSeries;
}

/** The outcome of a request, from its operation and status. */
export function operationResult(operation: Operation, status: number): string {
  if (status === 200 || status === 304) return 'hit';
  if (status === 201) return 'stored';
  if (status === 204) return operation === 'touch' ? 'touched' : 'deleted';
  if (status === 404) return operation === 'read' || operation === 'touch' ? 'miss' : 'invalid';
  if (status === 412) return 'rejected';
  if (status === 503) return 'unavailable';
  if (status === 507) return 'full';
  if (status >= 500) return 'error';
  return 'invalid';
}

export class Metrics {
  readonly registry = new Registry();

  private readonly httpRequests = new FastCounter({
    name: 'http_requests_total',
    help: 'Count of HTTP requests processed, partitioned by status code and HTTP method (and namespace: empty when none matched).',
    labelNames: ['code', 'method', 'namespace'],
    registry: this.registry,
  });
  private readonly httpDuration = new FastHistogram({
    name: 'http_request_duration_seconds',
    help: 'A histogram of latencies for requests, partitioned by status code and HTTP method (and namespace).',
    labelNames: ['code', 'method', 'namespace'],
    buckets: KASK_BUCKETS,
    registry: this.registry,
  });
  private readonly operations = new FastCounter({
    name: 'firkin_operations_total',
    help: 'Requests by namespace, operation (read, write, delete, touch) and result (hit, miss, stored, deleted, touched, rejected, invalid, unavailable, full, error, aborted).',
    labelNames: ['namespace', 'operation', 'result'],
    registry: this.registry,
  });
  private readonly operationDuration = new FastHistogram({
    name: 'firkin_operation_duration_seconds',
    help: 'Time from request to response, by namespace and operation.',
    labelNames: ['namespace', 'operation'],
    buckets: FINE_BUCKETS,
    registry: this.registry,
  });
  private readonly storageOperations = new FastCounter({
    name: 'firkin_storage_operations_total',
    help: 'Storage engine calls by namespace, engine, operation (get, set, add, replace, cas, touch, delete, relocate, compare_read, truncate) and result (hit, miss, applied, rejected, ok, unavailable, timeout, unknown, full, corrupt, error).',
    labelNames: ['namespace', 'engine', 'operation', 'result'],
    registry: this.registry,
  });
  private readonly storageDuration = new FastHistogram({
    name: 'firkin_storage_operation_duration_seconds',
    help: 'Time spent in the storage engine per call, by namespace, engine and operation.',
    labelNames: ['namespace', 'engine', 'operation'],
    buckets: FINE_BUCKETS,
    registry: this.registry,
  });
  private readonly inflight: Gauge = new Gauge({
    name: 'firkin_http_requests_in_flight',
    help: 'Requests being served right now, each until its answer has left the process (what max_in_flight bounds).',
    registers: [this.registry],
    collect: (): void => this.inflight.set(this.readInFlight()), // the transport's one count, read at scrape time
  });
  /** Reads the transport's in-flight count (transport/in-flight.ts). */
  private readInFlight: () => number = () => 0;
  private readonly writtenBytes = new FastCounter({
    name: 'firkin_written_bytes_total',
    help: 'Bytes of values stored by applied writes, by namespace.',
    labelNames: ['namespace'],
    registry: this.registry,
  });
  private readonly writesCompared = new FastCounter({
    name: 'firkin_writes_compared_total',
    help: 'Applied writes whose previous value is known (all of them on the embedded engine, a sample on Cassandra).',
    labelNames: ['namespace'],
    registry: this.registry,
  });
  private readonly writesUnchanged = new FastCounter({
    name: 'firkin_writes_unchanged_total',
    help: 'Of the compared writes, those whose value equals the value already stored.',
    labelNames: ['namespace'],
    registry: this.registry,
  });
  private readonly ready = new Gauge({
    name: 'firkin_storage_ready',
    help: '1 if the last readiness probe of the storage engine succeeded, else 0 (with workers: the lowest).',
    registers: [this.registry],
    aggregator: 'min',
  });
  private readonly authRefusals = new Counter({
    name: 'firkin_auth_refusals_total',
    help: 'Requests refused for their credentials (namespaces and service endpoints), by status: 401, 403, and 429 from the failed-authentication throttle.',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  private readonly logDropped = new Counter({
    name: 'firkin_log_lines_dropped_total',
    help: 'Log lines dropped because the log destination could not keep up or was unreachable.',
    registers: [this.registry],
  });
  private readonly truncations = new Counter({
    name: 'firkin_namespace_truncations_total',
    help: 'Admin truncations of a namespace (POST /admin/namespaces/{name}/truncate), by namespace and result (truncated, unavailable, unknown, error, refused).',
    labelNames: ['namespace', 'result'] as const,
    registers: [this.registry],
  });
  private readonly sealedOpenFailures = new Counter({
    name: 'firkin_sealed_open_failures_total',
    help: 'Records of sealed namespaces that did not open (tampered, damaged, or sealed under a key id no longer in the keyring), by namespace and reason (format, unknown-key, authentication): each answered as a missing key.',
    labelNames: ['namespace', 'reason'] as const,
    registers: [this.registry],
  });
  /** Expired values the embedded sweeper removed; only with the embedded engine (see `embedded`). */
  private reclaimed: Counter<'namespace'> | undefined;
  /** Damaged records the embedded engine met (and never served); only with the embedded engine. */
  private damaged: Counter<'namespace'> | undefined;

  /** Per namespace (a string from the config: its hash is kept), per method, status and operation as one number. */
  private readonly requestChildren = new Map<string, Map<number, RequestSeries>>();

  private readonly writeChildren = new Map<string, { bytes: CounterSeries; compared: CounterSeries; unchanged: CounterSeries }>();

  constructor(options: { engine: string; processMetrics?: boolean }) {
    new Gauge({
      name: 'firkin_build_info',
      help: 'Build information (always 1).',
      labelNames: ['version', 'node_version', 'engine'] as const,
      registers: [this.registry],
      aggregator: 'max',
    }).set({ version: version(), node_version: process.version, engine: options.engine }, 1);
    // Kask's own build gauge, with the labels Kask v1.0.10 exports, so a dashboard built for
    // Kask keeps working: `version` is Firkin's; Firkin is not stamped at build time, so
    // `build_date` and `build_host` are `unknown` (as Kask reports an unstamped field), and
    // `go_version` names the runtime that serves, in Go's shape (`node24.22.3` for `go1.26.8`).
    new Gauge({
      name: 'kask_build_info',
      help: 'Build information (always 1), with the labels of Kask\'s metric: version is Firkin\'s, go_version names the Node.js runtime.',
      labelNames: ['version', 'build_date', 'build_host', 'go_version'] as const,
      registers: [this.registry],
      aggregator: 'max',
    }).set({ version: version(), build_date: 'unknown', build_host: 'unknown', go_version: `node${process.versions.node}` }, 1);
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * One HTTP request answered (namespace routes only; the service endpoints are not
   * counted). `seconds` is undefined for requests refused before they were parsed.
   */
  request(method: string | undefined, status: number, namespace: string, operation: Operation | undefined, seconds: number | undefined): void {
    // Two lookups by values whose hashes are kept, for all four series (the hot path: docs/benchmarks.md).
    let byNamespace = this.requestChildren.get(namespace);
    if (byNamespace === undefined) this.requestChildren.set(namespace, (byNamespace = new Map()));
    const id = (status * 8 + (method === undefined ? 0 : (METHOD_INDEX.get(method) ?? 0))) * 8 + (operation === undefined ? 0 : OPERATION_INDEX[operation]);
    let c = byNamespace.get(id);
    if (c === undefined) {
      const m = methodLabel(method);
      const code = String(status);
      c = {
        count: this.httpRequests.labels({ code, method: m, namespace }),
        duration: this.httpDuration.labels({ code, method: m, namespace }),
        operation: operation === undefined ? undefined : this.operations.labels({ namespace, operation, result: operationResult(operation, status) }),
        operationDuration: operation === undefined ? undefined : this.operationDuration.labels({ namespace, operation }),
      };
      byNamespace.set(id, c);
    }
    c.count.inc();
    c.operation?.inc();
    if (seconds !== undefined) {
      c.duration.observe(seconds);
      c.operationDuration?.observe(seconds);
    }
  }

  /** A routed request the client abandoned before it was answered. */
  aborted(namespace: string, operation: Operation): void {
    this.operations.labels({ namespace, operation, result: 'aborted' }).inc(); // rare: no cached series
  }

  /** The gauge firkin_http_requests_in_flight reads `count` at each scrape. */
  trackInFlight(count: () => number): void {
    this.readInFlight = count;
  }

  /** The series of storage calls with this outcome: the caller keeps it (metrics/instrumented-store.ts). */
  storageSeries(namespace: string, engine: string, operation: string, result: string): StorageSeries {
    // Looked up once per store and outcome: the series themselves are shared by their labels.
    return {
      count: this.storageOperations.labels({ namespace, engine, operation, result }),
      duration: this.storageDuration.labels({ namespace, engine, operation }),
    };
  }

  /** An applied write: its size and, when known, whether it repeated the stored value. */
  written(namespace: string, bytes: number, unchanged: boolean | undefined): void {
    let c = this.writeChildren.get(namespace);
    if (c === undefined) {
      c = {
        bytes: this.writtenBytes.labels({ namespace }),
        compared: this.writesCompared.labels({ namespace }),
        unchanged: this.writesUnchanged.labels({ namespace }),
      };
      this.writeChildren.set(namespace, c);
    }
    c.bytes.inc(bytes);
    if (unchanged === undefined) return;
    c.compared.inc();
    if (unchanged) c.unchanged.inc();
  }

  setReady(ready: boolean): void {
    this.ready.set(ready ? 1 : 0);
  }

  /** A request refused for its credentials: 401, 403, or 429 (too many failed authentications). */
  authRefused(status: 401 | 403 | 429): void {
    this.authRefusals.inc({ status: String(status) }); // rare: no cached child
  }

  logLineDropped(): void {
    this.logDropped.inc();
  }

  /** A sealed record that did not open. */
  sealedOpenFailure(namespace: string, reason: string): void {
    this.sealedOpenFailures.inc({ namespace, reason }); // rare: no cached child
  }

  truncation(namespace: string, result: TruncationResult): void {
    this.truncations.inc({ namespace, result }); // rare: no cached child
  }

  /**
   * The embedded store's gauges, read from `stats` at each scrape. Every worker reads
   * the same file, so across workers they take the largest reading, not the sum.
   */
  embedded(stats: SpaceReport): void {
    const gauge = (name: string, help: string, read: () => number): void => {
      const g: Gauge = new Gauge({
        name,
        help,
        registers: [this.registry],
        aggregator: 'max',
        collect: (): void => {
          try {
            g.set(read());
          } catch {
            // The store is closing or unreadable now: keep the last reading.
          }
        },
      });
    };
    gauge('firkin_embedded_file_bytes', 'Size of the embedded store\'s data file (it never shrinks; freed pages are reused).', () => stats.fileBytes());
    gauge('firkin_embedded_used_bytes', 'Bytes of the pages the embedded store uses, as the embedded.max_size bound counts them.', () => stats.usedBytes());
    gauge('firkin_embedded_max_size_bytes', 'The embedded store\'s size bound (embedded.max_size): writes get 507 once used bytes reach it.', () => stats.maxSize);
    const entries: Gauge<'namespace'> = new Gauge({
      name: 'firkin_embedded_entries',
      help: 'Values stored per namespace, from LMDB\'s statistics: expired values count until the sweeper removes them.',
      labelNames: ['namespace'] as const,
      registers: [this.registry],
      aggregator: 'max',
      collect: (): void => {
        try {
          for (const [namespace, count] of stats.entries()) entries.set({ namespace }, count);
        } catch {
          // As above: keep the last reading.
        }
      },
    });
    this.reclaimed = new Counter({
      name: 'firkin_embedded_expired_reclaimed_total',
      help: 'Expired values the embedded store\'s sweeper removed from disk, by namespace.',
      labelNames: ['namespace'] as const,
      registers: [this.registry],
    });
    this.damaged = new Counter({
      name: 'firkin_embedded_damaged_records_total',
      help: 'Times the embedded store met a damaged record (it does not decode, or fails its checksum), by namespace: never served.',
      labelNames: ['namespace'] as const,
      registers: [this.registry],
    });
  }

  expiredReclaimed(namespace: string, count: number): void {
    this.reclaimed?.inc({ namespace }, count);
  }

  damagedRecord(namespace: string): void {
    this.damaged?.inc({ namespace }); // rare: no cached child
  }
}
