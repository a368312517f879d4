// Scenario 4: the same Cassandra queries Firkin's engine makes, through
// cassandra-driver directly, without HTTP. Same workloads, modes and output as
// loadgen, so Firkin's HTTP overhead on Cassandra is the difference between the two.
//   node driver-bench.mjs <keyspace> <table> <workload get|mixed> <concurrency> <rate> <seconds> <warmup>
import { randomBytes } from 'node:crypto';
import cassandra from 'cassandra-driver';

const [keyspace, table, workload, conc, rateArg, secondsArg, warmupArg] = process.argv.slice(2);
const concurrency = Number(conc);
const rate = Number(rateArg);
// As a namespace with conditional_writes (the one run.mjs configures): every write and delete a
// lightweight transaction.
const q = {
  get: `SELECT value, TTL(value) AS ttl FROM "${keyspace}"."${table}" WHERE key = ?`,
  set: `UPDATE "${keyspace}"."${table}" USING TTL ? SET value = ? WHERE key = ? IF value != 0x`,
  del: `DELETE FROM "${keyspace}"."${table}" WHERE key = ? IF value != 0x`,
  add: `UPDATE "${keyspace}"."${table}" USING TTL ? SET value = ? WHERE key = ? IF value = null`,
};
const { consistencies } = cassandra.types;
const read = { prepare: true, consistency: consistencies.localQuorum };
const write = { prepare: true, consistency: consistencies.localQuorum, serialConsistency: consistencies.localSerial };
const del = { prepare: true, consistency: consistencies.eachQuorum, serialConsistency: consistencies.localSerial };
const client = new cassandra.Client({ contactPoints: ['127.0.0.1'], localDataCenter: 'datacenter1', pooling: { coreConnectionsPerHost: { [cassandra.types.distance.local]: 1 } } });
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
  const cpuStart = process.cpuUsage();
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
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) await one(performance.now());
    }));
  } else {
    // Open loop: slots at a fixed rate, at most `concurrency` in flight; a slot that waits is charged for it.
    const interval = 1000 / rate;
    let slot = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
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
  const cpu = process.cpuUsage(cpuStart);
  lat.sort((a, b) => a - b);
  const pct = (p) => (lat.length ? lat[Math.floor(p * (lat.length - 1))] : 0);
  return {
    mode: rate > 0 ? 'open' : 'closed', workload, offered_rps: rate, requests: lat.length, errors, statuses: {}, seconds: elapsed,
    rps: lat.length / elapsed,
    latency_ms: { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), p999: pct(0.999), max: pct(1) },
    server: { cpu_percent: ((cpu.user + cpu.system) / 1e6 / elapsed) * 100, rss_mb: process.memoryUsage().rss / 2 ** 20 },
  };
}

if (Number(warmupArg) > 0) await drive(Number(warmupArg), false);
process.stdout.write(`${JSON.stringify(await drive(Number(secondsArg), true))}\n`);
await client.shutdown();
