// Scenario `driver`: the same Cassandra queries Firkin's engine makes in a namespace with
// conditional_writes (the one run.mjs configures as `cassandra`), through cassandra-driver
// directly, without HTTP, with the client options Firkin's engine uses. Same workloads,
// modes and output as loadgen, so Firkin's HTTP overhead on Cassandra is the difference
// between the two:
//   node driver-bench.mjs <config.yaml> <workload get|mixed> <clients> <rate> <seconds> <warmup>
// <config.yaml>: a Firkin config on Cassandra; its first namespace's table is queried.
// <clients>: simulated clients, as many as the load generator's connections in the same
// mode; each has one query in flight at a time (one query per simulated request), so
// the driver sees the same concurrency as Firkin's engine behind HTTP.
// Prints {"phase":"measure"} when the measured part starts (run.mjs samples CPU from then).
import { randomBytes } from 'node:crypto';
import cassandra from 'cassandra-driver';

const dist = new URL('../dist/src/', import.meta.url);
const { loadConfig } = await import(new URL('config/load.js', dist));
const { clientOptions } = await import(new URL('storage/cassandra/client-options.js', dist));
const { CONSISTENCY } = await import(new URL('storage/cassandra/consistency.js', dist));

const [configFile, workload, clientsArg, rateArg, secondsArg, warmupArg] = process.argv.slice(2);
const clients = Number(clientsArg);
const rate = Number(rateArg);
const config = loadConfig(configFile);
const table = `"${config.cassandra.keyspace}"."${config.namespaces[0].table}"`;
const q = {
  get: `SELECT value, TTL(value) AS ttl FROM ${table} WHERE key = ?`,
  set: `UPDATE ${table} USING TTL ? SET value = ? WHERE key = ? IF value != 0x`,
  del: `DELETE FROM ${table} WHERE key = ? IF value != 0x`,
  add: `UPDATE ${table} USING TTL ? SET value = ? WHERE key = ? IF value = null`,
};
const read = { prepare: true, consistency: CONSISTENCY.read };
const write = { prepare: true, consistency: CONSISTENCY.write, serialConsistency: CONSISTENCY.serial };
const del = { prepare: true, consistency: CONSISTENCY.delete, serialConsistency: CONSISTENCY.serial };
const client = new cassandra.Client(clientOptions(config.cassandra, { withKeyspace: false }));
await client.connect();

const keys = Array.from({ length: 20000 }, (_, i) => `enwiki:MWSession:${(BigInt(i) * 0x9e3779b97f4a7c15n & 0xffffffffffffffffn).toString(16).padStart(32, '0')}`);
const values = Array.from({ length: 64 }, () => randomBytes(1024 + Math.floor(Math.random() * 1024)));
const pick = (a) => a[Math.floor(Math.random() * a.length)];

function next() {
  const k = pick(keys);
  const p = workload === 'get' ? 0 : Math.floor(Math.random() * 100);
  if (p < 72) return client.execute(q.get, [k], read);
  if (p < 94) return client.execute(q.set, [86400, pick(values), k], write);
  if (p < 97) return client.execute(q.del, [k], del);
  return client.execute(q.add, [86400, pick(values), `enwiki:MWSession:new-${randomBytes(8).toString('hex')}`], write);
}

async function drive(seconds, record) {
  const lat = [];
  let errors = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const one = async (due) => {
    try {
      await next();
    } catch {
      errors++;
    }
    if (record) lat.push(performance.now() - due);
  };
  if (rate <= 0) {
    await Promise.all(Array.from({ length: clients }, async () => {
      while (performance.now() < deadline) await one(performance.now());
    }));
  } else {
    // Open loop: slots at a fixed rate, at most `clients` in flight; a slot that waits is charged for it.
    const interval = 1000 / rate;
    let slot = 0;
    await Promise.all(Array.from({ length: clients }, async () => {
      for (;;) {
        const due = start + slot++ * interval;
        if (due >= deadline) return;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        await one(due);
      }
    }));
  }
  const elapsed = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  const pct = (p) => (lat.length ? lat[Math.floor(p * (lat.length - 1))] : 0);
  return {
    mode: rate > 0 ? 'open' : 'closed', workload, offered_rps: rate, requests: lat.length, errors, statuses: {}, seconds: elapsed,
    rps: lat.length / elapsed,
    latency_ms: { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), p999: pct(0.999), max: pct(1) },
  };
}

if (Number(warmupArg) > 0) await drive(Number(warmupArg), false);
process.stdout.write('{"phase":"measure"}\n');
process.stdout.write(`${JSON.stringify(await drive(Number(secondsArg), true))}\n`);
await client.shutdown();
