/**
 * The soak trusts the load generator's verify workload to notice a wrong answer or a
 * lost write: here it runs against a tiny in-memory store that is honest, then one that
 * acknowledges writes it forgets.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { loadgenKeys, runLoadgen, type LoadgenRun } from './loadgen.js';

/** A key-value store over HTTP that drops every `forgetEvery`-th acknowledged write (0: none). */
async function store(forgetEvery: number): Promise<{ server: Server; base: string; seen: Set<string> }> {
  const data = new Map<string, Buffer>();
  const seen = new Set<string>();
  let writes = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const key = req.url!;
      seen.add(decodeURIComponent(key.slice('/sessions/v1/'.length)));
      if (req.method === 'GET') {
        const v = data.get(key);
        res.writeHead(v ? 200 : 404).end(v);
      } else if (req.method === 'POST') {
        if (forgetEvery === 0 || ++writes % forgetEvery !== 0) data.set(key, Buffer.concat(chunks));
        res.writeHead(201).end();
      } else {
        data.delete(key);
        res.writeHead(204).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => server.close());
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/sessions/v1/`, seen };
}

const run = (base: string): LoadgenRun => ({ base, workload: 'verify', connections: 4, rate: 0, seconds: 1, keys: 200, prefix: 'loadgen-test:' });

describe('load generator, verify workload', () => {
  it('finds nothing wrong with an honest store, and reads every key back', async () => {
    const { base, seen } = await store(0);
    const r = await runLoadgen(run(base));
    // The key-in-logs check registers loadgenKeys(): they must be the keys the Go side really sends.
    assert.deepEqual([...seen].sort(), loadgenKeys('loadgen-test:', 200).sort());
    assert.ok(r.requests > 100, `${r.requests} requests`);
    assert.equal(r.errors, 0, r.failures?.join('; '));
    assert.equal(r.verified, 200);
    assert.equal(r.lost, 0);
  });

  it('reports the writes a store acknowledged and forgot', async () => {
    const { base } = await store(5);
    const r = await runLoadgen(run(base));
    assert.ok(r.errors > 0, 'reads of forgotten writes count as errors');
    assert.ok(r.lost! > 0, 'and the read-back finds keys not holding their last write');
    assert.match(r.failures!.join('\n'), /not the last value written|absent expected/);
  });
});
