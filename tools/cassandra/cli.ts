/**
 * npm run cassandra -- start | stop | status | cluster start | cluster stop
 *
 * start: a single node on 127.0.0.1:9042 (data centre "datacenter1").
 * cluster start: two nodes in two data centres, dc1 on 127.0.0.2 and dc2 on 127.0.0.3.
 * Both provision Cassandra from Maven Central on first use and return once CQL answers.
 */
import { startCluster, stopCluster } from './cluster.js';
import { CLUSTER, isRunning, SINGLE, startNode, stopNode } from './node.js';

async function main(args: string[]): Promise<void> {
  const [first, second] = args;
  if (first === 'cluster' && second === 'start') return startCluster();
  if (first === 'cluster' && second === 'stop') return stopCluster();
  switch (first) {
    case 'start':
      await startNode(SINGLE);
      return;
    case 'stop':
      return stopNode(SINGLE);
    case 'status':
      for (const node of [SINGLE, ...CLUSTER]) {
        process.stdout.write(`${node.name.padEnd(8)} ${node.listen.padEnd(10)} ${isRunning(node) ? 'running' : 'stopped'}\n`);
      }
      return;
    default:
      process.stderr.write('usage: npm run cassandra -- start | stop | status | cluster start | cluster stop\n');
      process.exit(2);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`cassandra: ${(err as Error).message}\n`);
  process.exit(1);
});
