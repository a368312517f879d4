// The floor for a Node.js session store on Cassandra: node:http and the same
// cassandra-driver doing only Kask's GET, POST and DELETE (Kask's statements and
// consistency levels), with nothing else: no metrics, no logs, no limits, no access
// rules, no ETags. Firkin's own work is what it costs above this (docs/benchmarks.md).
//   node floor-server.mjs <keyspace> <table>   → prints {"url": …} once listening
import { createServer } from 'node:http';
import cassandra from 'cassandra-driver';

const [keyspace = 'firkin_bench', table = 'sessions'] = process.argv.slice(2);
const { consistencies } = cassandra.types;
const client = new cassandra.Client({ contactPoints: ['127.0.0.1'], localDataCenter: 'datacenter1' });
await client.connect();
const t = `"${keyspace}"."${table}"`;
const GET = `SELECT value FROM ${t} WHERE key = ?`;
const SET = `INSERT INTO ${t} (key, value) VALUES (?, ?) USING TTL 86400`;
const DEL = `DELETE FROM ${t} WHERE key = ?`;
const PREFIX = '/sessions/v1/';

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const fail = () => {
    res.writeHead(500);
    res.end();
  };
  if (!req.url.startsWith(PREFIX)) {
    res.writeHead(404);
    return res.end();
  }
  let key;
  try {
    key = decodeURIComponent(req.url.slice(PREFIX.length));
  } catch {
    res.writeHead(400);
    return res.end();
  }
  if (req.method === 'GET') {
    client.execute(GET, [key], { prepare: true, consistency: consistencies.localQuorum }).then((rs) => {
      const value = rs.first()?.get('value');
      if (!value) {
        res.writeHead(404);
        return res.end();
      }
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': value.length });
      res.end(value);
    }, fail);
  } else if (req.method === 'POST' || req.method === 'PUT') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () =>
      client.execute(SET, [key, Buffer.concat(chunks)], { prepare: true, consistency: consistencies.localQuorum }).then(() => {
        res.writeHead(201);
        res.end();
      }, fail),
    );
  } else if (req.method === 'DELETE') {
    client.execute(DEL, [key], { prepare: true, consistency: consistencies.eachQuorum }).then(() => {
      res.writeHead(204);
      res.end();
    }, fail);
  } else {
    res.writeHead(405);
    res.end();
  }
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })}\n`));
// A signal ends it with process.exit, so that --cpu-prof writes its profile (benchmarks/profile.mjs).
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
