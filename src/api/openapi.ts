/**
 * The OpenAPI 3 document served at /openapi, built from the running config: one
 * path per namespace (its base URI filled in), the conditional and TTL headers,
 * the problem schema, the service endpoints, and Kask-style `x-amples` that a
 * monitor (Wikimedia's service-checker) runs: store a reserved test key, then read it.
 *
 * test/api/openapi.test.ts checks that every route and status the server
 * produces is listed here.
 */
import type { FirkinConfig } from '../config/types.js';
import { TTL_HEADER } from './protocol.js';
import { version } from '../base/version.js';

/** The key monitoring writes and reads; it expires after MONITOR_TTL seconds. */
export const MONITOR_KEY = 'FIRKIN:K:INTEGRATION_TEST_KEY';
export const MONITOR_VALUE = 'FIRKIN:V:INTEGRATION_TEST_VALUE';
const MONITOR_TTL = 300;

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

/** Statuses any request can meet before or while it is routed. */
const COMMON = {
  '400': { $ref: '#/components/responses/BadRequest' },
  '401': { $ref: '#/components/responses/NotAuthorized' },
  '403': { $ref: '#/components/responses/Forbidden' },
  '404': { $ref: '#/components/responses/NotFound' },
  '408': { $ref: '#/components/responses/RequestTimeout' },
  '414': { $ref: '#/components/responses/KeyTooLong' },
  '417': { $ref: '#/components/responses/ExpectationFailed' },
  '429': { $ref: '#/components/responses/RateLimited' },
  '431': { $ref: '#/components/responses/HeadersTooLarge' },
  '500': { $ref: '#/components/responses/ServerError' },
  '503': { $ref: '#/components/responses/Unavailable' },
};

const header = (name: string) => ({ $ref: `#/components/headers/${name}` });

/** Once authentication is configured: any valid credentials (/openapi), or an admin client's (/metrics, /admin/*). */
const AUTHENTICATED = {
  '401': { $ref: '#/components/responses/NotAuthorized' },
  '429': { $ref: '#/components/responses/RateLimited' },
};
const ADMIN_ONLY = { ...AUTHENTICATED, '403': { $ref: '#/components/responses/Forbidden' } };

export function openapiDocument(config: FirkinConfig): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  config.namespaces.forEach((ns, i) => {
    paths[`${ns.baseUri}{key}`] = namespacePath(ns.name, ns.defaultTtl, i === 0);
  });
  Object.assign(paths, servicePaths(config.namespaces.map((ns) => ns.name)));
  return {
    openapi: '3.0.3',
    info: {
      title: config.serviceName,
      version: version(),
      description:
        'Firkin: a replicated key-value store for web sessions, compatible with Kask. ' +
        'Keys are percent-encoded into the path. Requests with methods other than those listed get 405 with an Allow header.',
    },
    paths,
    components: COMPONENTS,
  };
}

function namespacePath(name: string, defaultTtl: number, monitored: boolean): Record<string, unknown> {
  const retention = defaultTtl === 0 ? 'Values never expire unless the client asks.' : `Values expire after ${defaultTtl} s unless the client asks for less.`;
  const read = (method: 'get' | 'head') => ({
    summary: method === 'get' ? 'Read a value' : 'Read a value\'s metadata',
    operationId: `${method}_${name}`,
    tags: [name],
    parameters: [{ $ref: '#/components/parameters/IfNoneMatchRead' }, { $ref: '#/components/parameters/IfMatchRead' }],
    responses: {
      ...COMMON,
      '200': {
        description: 'The stored bytes',
        headers: { ETag: header('ETag'), [TTL_HEADER]: header('TTL') },
        content: method === 'get' ? { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } : undefined,
      },
      '304': { description: 'Not modified: If-None-Match matched the stored value', headers: { ETag: header('ETag'), [TTL_HEADER]: header('TTL') } },
      '412': { $ref: '#/components/responses/PreconditionFailed' },
    },
  });
  const write = (method: 'put' | 'post') => ({
    summary: 'Store a value',
    description: `${retention} PUT and POST are the same.`,
    operationId: `${method}_${name}`,
    tags: [name],
    parameters: [
      { $ref: '#/components/parameters/IfNoneMatchWrite' },
      { $ref: '#/components/parameters/IfMatchWrite' },
      { $ref: '#/components/parameters/CacheControl' },
    ],
    requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary', minLength: 1 } } } },
    responses: {
      ...COMMON,
      '201': { description: 'Stored', headers: { ETag: header('ETag') } },
      '400': problem(
        'Malformed request; or If-Match/If-None-Match on a Cassandra namespace without conditional_writes ' +
          '(type urn:firkin:problem:conditional-writes-disabled)',
      ),
      '412': { $ref: '#/components/responses/PreconditionFailed' },
      '503': {
        ...problem(
          'The storage engine is unavailable, or too many requests are in progress: retry (Retry-After). ' +
            'Or (type urn:firkin:problem:outcome-unknown, no Retry-After) a conditional write timed out and may have applied: read the key before retrying',
        ),
        headers: { 'Retry-After': header('RetryAfter') },
      },
      '413': { $ref: '#/components/responses/TooLarge' },
      '507': { $ref: '#/components/responses/InsufficientStorage' },
    },
  });
  const item: Record<string, unknown> = {
    parameters: [{ $ref: '#/components/parameters/Key' }],
    // service-checker runs x-amples in document order: store first, then read.
    post: {
      ...write('post'),
      ...(monitored
        ? {
            'x-amples': [
              {
                title: 'Store the monitoring test key',
                request: {
                  params: { key: MONITOR_KEY },
                  headers: { 'Content-Type': 'application/octet-stream', 'Cache-Control': `max-age=${MONITOR_TTL}` },
                  body: MONITOR_VALUE,
                },
                response: { status: 201 },
              },
            ],
            'x-monitor': true,
          }
        : {}),
    },
    get: {
      ...read('get'),
      ...(monitored
        ? {
            'x-amples': [
              {
                title: 'Read the monitoring test key',
                request: { params: { key: MONITOR_KEY }, headers: { Accept: 'application/octet-stream' } },
                response: { status: 200, headers: { 'Content-Type': 'application/octet-stream' }, body: MONITOR_VALUE },
              },
            ],
            'x-monitor': true,
          }
        : {}),
    },
    head: read('head'),
    put: write('put'),
    patch: {
      summary: 'Extend a value\'s lifetime (touch)',
      description:
        `Give the stored value a new lifetime without sending it (sliding expiry): its bytes and ETag stay as they are. ${retention} ` +
        'No body; If-Match and If-None-Match are refused. A touch never brings back a value that a concurrent write replaced or a delete removed. ' +
        'Needs the write right.',
      operationId: `patch_${name}`,
      tags: [name],
      parameters: [{ $ref: '#/components/parameters/CacheControl' }],
      responses: {
        ...COMMON,
        '204': { description: 'Touched: the value now lives for the TTL given in the TTL header', headers: { ETag: header('ETag'), [TTL_HEADER]: header('TouchTTL') } },
        '400': problem('Malformed request: a body, If-Match or If-None-Match, or a malformed Cache-Control max-age'),
        '404': problem('No such value (absent or expired): nothing was stored'),
      },
    },
    delete: {
      summary: 'Delete a value',
      description: 'On Cassandra, a 204 means every data centre has the deletion (EACH_QUORUM).',
      operationId: `delete_${name}`,
      tags: [name],
      responses: { ...COMMON, '204': { description: 'Deleted, or was not there' } },
    },
  };
  return item;
}

function servicePaths(namespaces: readonly string[]): Record<string, unknown> {
  const json = (description: string, schema: Record<string, unknown> = { type: 'object' }) => ({
    description,
    content: { 'application/json': { schema } },
  });
  const endpoint = (summary: string, responses: Record<string, unknown>) => {
    const op = (method: string) => ({ summary, operationId: `${method}_${summary.toLowerCase().replace(/\W+/g, '_')}`, tags: ['service'], responses });
    return { get: op('get'), head: op('head') };
  };
  return {
    '/healthz': endpoint('Liveness', { '200': json('Alive (no storage call); with build data unless authentication is configured and the caller is not an admin client') }),
    '/readyz': endpoint('Readiness', {
      '200': json('The storage engine answered a probe'),
      '503': problem('Not ready: the probe failed or timed out, or the service is shutting down'),
    }),
    '/metrics': endpoint('Prometheus metrics', {
      '200': { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } },
      ...ADMIN_ONLY,
    }),
    '/openapi': endpoint('This document', { '200': json('OpenAPI 3 document'), ...AUTHENTICATED }),
    '/admin/top-keys': endpoint('Most-written keys', {
      '200': json('Most-written keys per window, as keyed hashes (never the keys)'),
      ...ADMIN_ONLY,
    }),
    '/admin/namespaces/{name}/truncate': {
      parameters: [{ name: 'name', in: 'path', required: true, description: 'A configured namespace', schema: { type: 'string', enum: [...namespaces] } }],
      post: {
        summary: 'Truncate a namespace',
        description:
          'Remove every value of one namespace (sign everyone out of it), the other namespaces untouched. ' +
          'Needs an admin client (admin.clients, admin.tokens), also where authentication is otherwise not configured.',
        operationId: 'post_truncate_namespace',
        tags: ['service'],
        responses: {
          '204': { description: 'Every value of the namespace is removed' },
          ...ADMIN_ONLY,
          '403': problem('Not an admin client; or no admin client is configured, and then truncation is refused to everyone'),
          '404': problem('No such namespace'),
          '500': { $ref: '#/components/responses/ServerError' },
          '503': {
            ...problem(
              'Not truncated: the storage engine refused (Cassandra: a node is down) or could not be reached; retry (Retry-After). ' +
                'Or (type urn:firkin:problem:outcome-unknown, no Retry-After) it did not finish in time and may have removed some values only: repeat it',
            ),
            headers: { 'Retry-After': header('RetryAfter') },
          },
        },
      },
    },
  };
}

const COMPONENTS = {
  parameters: {
    Key: {
      name: 'key',
      in: 'path',
      required: true,
      description: 'The key, percent-encoded; UTF-8, no control characters, at most max_key_bytes bytes.',
      schema: { type: 'string', minLength: 1 },
    },
    IfNoneMatchRead: { name: 'If-None-Match', in: 'header', required: false, description: 'Entity-tags; 304 if one matches.', schema: { type: 'string' } },
    IfMatchRead: { name: 'If-Match', in: 'header', required: false, description: 'Entity-tags or *; 412 unless one matches.', schema: { type: 'string' } },
    IfNoneMatchWrite: {
      name: 'If-None-Match',
      in: 'header',
      required: false,
      description: '`*`: store only if no live value exists (atomic add); otherwise 412.',
      schema: { type: 'string', enum: ['*'] },
    },
    IfMatchWrite: {
      name: 'If-Match',
      in: 'header',
      required: false,
      description: '`*`: store only if a live value exists; entity-tags: only if the live value has one of them (compare-and-set); otherwise 412.',
      schema: { type: 'string' },
    },
    CacheControl: {
      name: 'Cache-Control',
      in: 'header',
      required: false,
      description: '`max-age=N`: keep the value N seconds (1 or more) from now; never longer than the namespace retention.',
      schema: { type: 'string', example: 'max-age=3600' },
    },
  },
  headers: {
    ETag: { description: 'Strong entity-tag of the stored value', schema: { type: 'string' } },
    TTL: { description: 'Remaining lifetime in whole seconds, rounded up; absent when the value never expires', schema: { type: 'integer', minimum: 1 } },
    TouchTTL: { description: 'The lifetime the touch gave the value, in whole seconds; absent when it never expires', schema: { type: 'integer', minimum: 1 } },
    RetryAfter: { description: 'Seconds to wait before retrying', schema: { type: 'integer' } },
  },
  responses: {
    BadRequest: problem('Malformed request'),
    NotAuthorized: {
      ...problem('No client certificate or bearer token where one is required, or an unknown token'),
      headers: { 'WWW-Authenticate': { description: 'Bearer realm="firkin" where tokens are taken', schema: { type: 'string' } } },
    },
    Forbidden: problem('This client may not do this operation here'),
    RateLimited: {
      ...problem('This client exceeded the namespace rate limit (rate-limited), or its address or certificate failed to authenticate too often (too-many-auth-failures)'),
      headers: { 'Retry-After': header('RetryAfter') },
    },
    NotFound: problem("No such value (Kask's not_found), or no namespace at this path (urn:firkin:problem:no-namespace)"),
    RequestTimeout: problem('The request did not arrive in time'),
    PreconditionFailed: problem('A conditional header did not hold'),
    TooLarge: problem('The value exceeds max_value_bytes'),
    KeyTooLong: problem('The key exceeds max_key_bytes'),
    ExpectationFailed: problem('Only Expect: 100-continue is supported'),
    HeadersTooLarge: problem('The request head is too large'),
    ServerError: problem('Unexpected server error'),
    InsufficientStorage: problem('The embedded store is at embedded.max_size; writes succeed again once entries expire or are deleted'),
    Unavailable: {
      ...problem(
        'The storage engine is unavailable, or too many requests are in progress; retry. ' +
          "(Type urn:firkin:problem:schema-missing, Retry-After: 10: the namespace's Cassandra keyspace or table does not exist yet; an operator must create it)",
      ),
      headers: { 'Retry-After': header('RetryAfter') },
    },
  },
  schemas: {
    Problem: {
      type: 'object',
      description: 'RFC 7807 problem document',
      required: ['type', 'title', 'instance'],
      properties: {
        type: {
          type: 'string',
          format: 'uri',
          description:
            "Kask's four types for 400, 401, 404 (no such value) and 500 (https://www.mediawiki.org/wiki/Kask/errors/bad_request, " +
            '…/not_authorized, …/not_found, …/server_error); urn:firkin:problem:<name> for the others, ' +
            'among them urn:firkin:problem:no-namespace for a 404 on a path under no namespace',
        },
        title: { type: 'string' },
        detail: { type: 'string' },
        instance: { type: 'string', description: 'urn:firkin:request:<request id>' },
      },
    },
  },
};
