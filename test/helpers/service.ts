import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { startService, type Service } from '../../src/service.js';
import { watchLog } from './secrets.js';
import { atFileEnd, tempDir } from './tmp.js';

export interface TestService {
  readonly service: Service;
  readonly url: string;
  /** Base URL of the first namespace, e.g. http://127.0.0.1:1234/sessions/v1/ */
  readonly base: string;
  /** Every log line written so far. */
  readonly logs: string[];
  close(): Promise<void>;
}

/**
 * Start Firkin in this process on an ephemeral port with the embedded engine in
 * a fresh directory; `config` is merged over that (and `config.embedded` over the
 * fresh directory). Stopped when the file ends.
 */
export async function startTestService(config: Record<string, unknown> = {}): Promise<TestService> {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(line);
      done();
    },
  });
  // `embedded` is merged too, so a test may set embedded.max_size and keep the fresh directory.
  // Fresh metrics at every scrape: tests read what they just did.
  const embedded = { path: tempDir(), ...(config.embedded as Record<string, unknown> | undefined) };
  const yaml = stringify({ listen_port: 0, metrics_max_age_ms: 0, ...config, embedded });
  const service = await startService(parseConfig(yaml, 'test-config.yaml'), { logDestination: destination });
  watchLog(`an in-process service at ${service.url}`, logs);
  atFileEnd(() => service.close(100));
  const first = service.namespaces[0]!;
  return { service, url: service.url, base: `${service.url}${first.baseUri}`, logs, close: () => service.close(100) };
}
