/**
 * Which modules of src/ a request runs code in, measured rather than read: the
 * service runs in this process, V8's precise coverage counts every function call,
 * and the modules whose functions ran for one request (in each of three rounds, after
 * a warm-up, so that timers and first-use work are left out) are its path. README.md's
 * "A request's path" lists them; test/docs/request-path.test.ts keeps the two in step.
 *
 *   node dist/tools/request-path.js [--method GET|POST|…] [--cassandra HOST]
 */
import { request } from 'node:http';
import { Session } from 'node:inspector/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/load.js';
import { startService } from '../src/service.js';

export interface PathOptions {
  readonly method?: string;
  /** Measure on Cassandra at this host (keyspace `firkin_request_path`, created if missing); default: the embedded engine. */
  readonly cassandraHost?: string;
}

/** The modules (paths relative to src/, sorted) whose code ran for one request, and the functions that ran in each. */
export async function requestPath(options: PathOptions = {}): Promise<Map<string, string[]>> {
  const method = options.method ?? 'GET';
  const dir = mkdtempSync(join(tmpdir(), 'firkin-path-'));
  const yaml = options.cassandraHost
    ? `listen_port: 0\ncassandra: {hosts: [${options.cassandraHost}], keyspace: firkin_request_path}\n`
    : `listen_port: 0\nembedded: {path: ${JSON.stringify(dir)}}\n`;
  const config = parseConfig(yaml, 'request-path.yaml');
  if (config.cassandra !== undefined) {
    const { applySchema } = await import('../src/storage/cassandra/schema.js');
    await applySchema(config.cassandra, config.namespaces);
  }
  const service = await startService(config, { logDestination: new Writable({ write: (_c, _e, done) => done() }) });
  const url = `${service.url}/sessions/v1/request-path-key`;
  const call = (m: string, body?: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const r = request(url, { method: m, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      r.on('error', reject);
      r.end(body);
    });
  const session = new Session();
  session.connect();
  try {
    if ((await call('PUT', 'a session')) !== 201) throw new Error('cannot write the measured key');
    for (let i = 0; i < 200; i++) await call(method, method === 'GET' || method === 'HEAD' || method === 'DELETE' || method === 'PATCH' ? undefined : 'a session');
    await session.post('Profiler.enable');
    await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
    const ran = async (): Promise<Set<string>> => {
      const { result } = await session.post('Profiler.takePreciseCoverage'); // and resets the counts
      const out = new Set<string>();
      for (const script of result) {
        const at = script.url.indexOf('/dist/src/');
        if (at === -1) continue;
        const module = script.url.slice(at + '/dist/src/'.length).replace(/\.js$/, '.ts');
        for (const fn of script.functions) if (fn.ranges[0]!.count > 0) out.add(`${module}\u0000${fn.functionName || '(anonymous)'}`);
      }
      return out;
    };
    const rounds: Set<string>[] = [];
    for (let i = 0; i < 3; i++) {
      if (method === 'DELETE') await call('PUT', 'a session');
      await ran();
      await call(method, method === 'PUT' || method === 'POST' ? 'a session' : undefined);
      rounds.push(await ran());
    }
    const path = new Map<string, string[]>();
    for (const entry of [...rounds[0]!].sort()) {
      if (!rounds.every((r) => r.has(entry))) continue;
      const [module, fn] = entry.split('\u0000') as [string, string];
      path.set(module, [...(path.get(module) ?? []), fn]);
    }
    return new Map([...path].sort(([a], [b]) => a.localeCompare(b)));
  } finally {
    await session.post('Profiler.stopPreciseCoverage').catch(() => undefined);
    session.disconnect();
    await service.close(100);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { method: { type: 'string', default: 'GET' }, cassandra: { type: 'string' } } });
  const path = await requestPath({ method: values.method, ...(values.cassandra ? { cassandraHost: values.cassandra } : {}) });
  for (const [module, fns] of path) console.log(`${module.padEnd(42)} ${fns.join(', ')}`);
  console.log(`${values.method} on ${values.cassandra ? 'Cassandra' : 'the embedded engine'}: ${path.size} modules`);
  process.exit(0);
}
