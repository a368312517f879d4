/**
 * The service's own endpoints, beside the namespaces: /healthz (liveness),
 * /readyz (readiness), /metrics (Prometheus), /openapi (the API document),
 * /admin/top-keys (write-pattern insight, hashed keys only), all GET and HEAD only;
 * and POST /admin/namespaces/{name}/truncate per namespace (truncate.ts).
 * With authentication configured, `auth` guards them (access/authentication.ts).
 */
import { readFileSync } from 'node:fs';
import type { Authentication } from '../access/authentication.js';
import type { RequestContext } from '../base/request.js';
import { snapshot } from '../base/snapshot.js';
import { version } from '../base/version.js';
import type { FirkinConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { Namespace } from '../namespace/namespace.js';
import { answer, fromEndpoint, json, problem, refusalAnswer, type Served } from './answer.js';
import { openapiDocument } from './openapi.js';
import { PROBLEMS } from './problem.js';
import { ENDPOINT_METHODS, RETRY_AFTER_SECONDS } from './protocol.js';
import type { Readiness } from './readiness.js';
import { TRUNCATE_METHOD, truncateEndpoint, truncatePath, type TruncationResult } from './truncate.js';

export interface EndpointOptions {
  readonly config: FirkinConfig;
  readonly engine: string;
  readonly readiness: Readiness;
  readonly logger: Logger;
  /** The namespaces, each with its truncation endpoint. */
  readonly namespaces: readonly Namespace[];
  /** The Prometheus exposition (in a worker: every worker's, from the primary). */
  readonly metrics: { text(): Promise<string>; readonly contentType: string };
  /** The /admin/top-keys report (in a worker: merged by the primary). */
  readonly topKeys: () => Promise<unknown>;
  /** Told of each truncation's result (metrics). */
  readonly onTruncation?: (namespace: string, result: TruncationResult) => void;
  /** Guards the endpoints once authentication is configured; without it, all are open. */
  readonly auth?: Authentication;
}

export type Endpoint = ((ctx: RequestContext) => Served | Promise<Served>) & {
  /** It calls the storage engine per request (the truncation): counted in flight like a namespace request. */
  readonly storageWork: boolean;
};
type Handler = (ctx: RequestContext) => ReturnType<typeof answer> | Promise<ReturnType<typeof answer>>;

/**
 * Which endpoints a listener serves: `all` (the main listener with the admin endpoints on it),
 * `service` (the main listener when the admin endpoints have their own: all but /admin/*),
 * `public` (the same without /metrics, which only the admin listener serves then), or
 * `admin` (the admin listener: /admin/*, and /metrics, /healthz and /readyz for monitoring).
 */
export type EndpointSet = 'all' | 'service' | 'public' | 'admin';

const SERVES: Readonly<Record<EndpointSet, (path: string) => boolean>> = {
  all: () => true,
  service: (path) => !path.startsWith('/admin/'),
  public: (path) => !path.startsWith('/admin/') && path !== '/metrics',
  admin: (path) => path !== '/openapi',
};

/** The endpoints by exact path (query strings are ignored). */
export function serviceEndpoints(options: EndpointOptions, include: EndpointSet = 'all'): ReadonlyMap<string, Endpoint> {
  const { config, readiness } = options;
  const startedAt = Date.now();
  const openapi = openapiBody(config);
  // One collection per metrics_max_age_ms, whatever the number of scrapers (with workers, each asks the primary).
  const metricsBody = snapshot(config.metricsMaxAgeMs, () => options.metrics.text());
  const topKeys = snapshot(config.metricsMaxAgeMs, () => options.topKeys());

  const handlers = new Map<string, Handler>([
    [
      '/healthz',
      (x) =>
        // Build data only for admin clients where authentication is configured: it would help an attacker.
        json(200, options.auth?.seesDetails(x) === false ? { status: 'ok' } : {
          status: 'ok',
          service: config.serviceName,
          version: version(),
          node_version: process.version,
          engine: options.engine,
          uptime_seconds: Math.floor((Date.now() - startedAt) / 1000),
        }),
    ],
    [
      '/readyz',
      async (x) => {
        const result = await readiness.check();
        if (result.ready) return json(200, { status: 'ready', engine: options.engine, probe_ms: Math.round(result.probeMs * 1000) / 1000 });
        // Open to all: with authentication configured, no engine message (it may name tables, hosts…).
        // A permanent failure's category (e.g. missing-table) names nothing, so it is shown to all.
        const reason = !options.auth?.configured
          ? result.reason
          : readiness.isDraining
            ? 'shutting down'
            : result.permanent !== undefined
              ? `the storage engine refuses requests (${result.permanent})`
              : 'the storage engine did not answer';
        return problem(x.requestId, PROBLEMS.notReady, `Not ready: ${reason}`, { 'Retry-After': String(RETRY_AFTER_SECONDS) });
      },
    ],
    [
      '/metrics',
      async (x) => {
        const body = await metricsBody().catch(() => undefined);
        if (body === undefined) return problem(x.requestId, PROBLEMS.overloaded, 'The metrics could not be collected now', { 'Retry-After': RETRY_AFTER_SECONDS });
        return answer(200, { 'Content-Type': options.metrics.contentType, 'Content-Length': Buffer.byteLength(body) }, body);
      },
    ],
    ['/openapi', () => answer(200, { 'Content-Type': openapi.type, 'Content-Length': openapi.body.length }, openapi.body)],
    [
      '/admin/top-keys',
      async (x) => {
        const report = await topKeys().catch(() => null);
        if (report === null) return problem(x.requestId, PROBLEMS.overloaded, 'The report could not be collected now', { 'Retry-After': RETRY_AFTER_SECONDS });
        return json(200, report);
      },
    ],
  ]);
  /** Each path with the methods it takes (its Allow header) and whether it calls the engine per request. */
  const routes: [string, string, Handler, boolean][] = [
    ...[...handlers].map(([path, handler]): [string, string, Handler, boolean] => [path, ENDPOINT_METHODS, handler, false]),
    ...options.namespaces.map((ns): [string, string, Handler, boolean] => [truncatePath(ns.name), TRUNCATE_METHOD, truncateEndpoint(ns, options), true]),
  ];
  const wanted = routes.filter(([path]) => SERVES[include](path));
  return new Map(
    wanted.map(([path, methods, handler, storageWork]) => {
      const allowed = methods.split(', ');
      const endpoint = async (x: RequestContext): Promise<Served> => {
        const refused = options.auth?.refuseEndpoint(x, path);
        if (refused !== undefined) return fromEndpoint(refusalAnswer(x.requestId, refused));
        if (!allowed.includes(x.method)) return fromEndpoint(problem(x.requestId, PROBLEMS.methodNotAllowed, undefined, { Allow: methods }));
        return fromEndpoint(await handler(x));
      };
      return [path, Object.assign(endpoint, { storageWork })];
    }),
  );
}

/** Kask's content type for its `openapi_spec` file, whatever the file's name (JSON is YAML too). */
export const KASK_OPENAPI_TYPE = 'application/x-yaml';

/**
 * The document to serve: Kask's `openapi_spec` file when configured (Kask's
 * `{{ .BaseURI }}` template placeholder filled in), served as Kask serves it
 * (`application/x-yaml`); else the generated one, as JSON.
 */
export function openapiBody(config: FirkinConfig): { body: Buffer; type: string } {
  if (config.openapiSpec === undefined) {
    return { body: Buffer.from(JSON.stringify(openapiDocument(config))), type: 'application/json' };
  }
  const base = config.namespaces[0]!.baseUri;
  const text = readFileSync(config.openapiSpec, 'utf8').replace(/\{\{-?\s*\.BaseURI\s*-?\}\}/g, () => base);
  return { body: Buffer.from(text), type: KASK_OPENAPI_TYPE };
}
