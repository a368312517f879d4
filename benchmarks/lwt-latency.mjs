// The latency cost of conditional_writes: the Cassandra engine's own write and delete
// calls, one at a time (no queueing), on the single development node, in a namespace
// with plain writes (Kask's INSERT and DELETE) and in one with conditional_writes
// (every write and delete a lightweight transaction), plus the conditional requests.
//   npm run build && npm run cassandra -- start && node benchmarks/lwt-latency.mjs [rounds]
// Prints one line per operation: mean, p50, p90, p99 in milliseconds.
import { randomBytes } from 'node:crypto';
import { CassandraEngine } from '../dist/src/storage/cassandra/cassandra-engine.js';
import { applySchema } from '../dist/src/storage/cassandra/schema.js';

const rounds = Number(process.argv[2] ?? 2000);
const config = {
  hosts: ['127.0.0.1'],
  port: 9042,
  keyspace: 'firkin_bench_lwt',
  localDc: 'datacenter1',
  replication: { datacenter1: 1 },
  queryTimeoutMs: 12_000,
  connectTimeoutMs: 5000,
  authentication: undefined,
  tls: undefined,
};
const ns = { name: 'bench', baseUri: '/b/', defaultTtl: 3600, table: 'bench', access: undefined, rateLimit: undefined, conditionalWrites: false, serialConsistency: 'local_serial' };
await applySchema(config, [ns]);
const engine = new CassandraEngine({ config });
await engine.waitUntilConnected(30_000);
const plain = engine.store({ name: 'plain', table: 'bench' });
const paxos = engine.store({ name: 'paxos', table: 'bench', conditionalWrites: true });
const value = () => randomBytes(1500);
const key = (i) => `enwiki:MWSession:${i}:${randomBytes(8).toString('hex')}`;

async function measure(name, op) {
  for (let i = 0; i < 200; i++) await op(rounds + i); // warm-up, on keys of its own
  const ms = [];
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    await op(i);
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  const at = (p) => ms[Math.min(ms.length - 1, Math.floor((p / 100) * ms.length))].toFixed(2);
  const mean = (ms.reduce((a, b) => a + b, 0) / ms.length).toFixed(2);
  console.log(`${name.padEnd(52)} mean ${mean.padStart(6)}  p50 ${at(50).padStart(6)}  p90 ${at(90).padStart(6)}  p99 ${at(99).padStart(6)}`);
}

const keys = Array.from({ length: rounds + 200 }, (_, i) => key(i));
await measure('read (GET, both modes)', (i) => plain.get(keys[i]));
await measure('plain: write (INSERT)', (i) => plain.set(keys[i], value(), 3600));
await measure('plain: delete (DELETE)', (i) => plain.delete(keys[i]));
await measure('conditional_writes: write (UPDATE IF value != 0x)', (i) => paxos.set(keys[i], value(), 3600));
await measure('conditional_writes: delete (DELETE IF value != 0x)', (i) => paxos.delete(keys[i]));
await measure('conditional_writes: add (If-None-Match: *)', (i) => paxos.set(keys[i], value(), 3600, { kind: 'absent' }));
// Each key's version as the replace left it, so the compare-and-set is timed alone (it reads at SERIAL itself).
const current = new Map();
await measure('conditional_writes: replace (If-Match: *)', async (i) => {
  const out = await paxos.set(keys[i], value(), 3600, { kind: 'present' });
  if (out.applied) current.set(keys[i], out.version);
});
await measure('conditional_writes: compare-and-set (If-Match)', async (i) => {
  const out = await paxos.set(keys[i], value(), 3600, { kind: 'version', versions: [current.get(keys[i])] });
  if (!out.applied) throw new Error('compare-and-set not applied');
});
await engine.close();
