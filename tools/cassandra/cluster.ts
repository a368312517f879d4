/** The two-data-centre test cluster: start both nodes and wait until each sees the other. */
import cassandra from 'cassandra-driver';
import { CLUSTER, startNode, stopNode, type NodeSpec } from './node.js';

/** Start the cluster's nodes (seed first); resolves when gossip has joined them. */
export async function startCluster(timeoutMs = 120_000, nodes: readonly NodeSpec[] = CLUSTER): Promise<void> {
  for (const node of nodes) await startNode(node);
  const deadline = Date.now() + timeoutMs;
  for (const node of nodes) {
    const others = nodes.filter((n) => n !== node).map((n) => n.listen);
    while (!(await seesPeers(node, others))) {
      if (Date.now() > deadline) throw new Error(`${node.name} does not see ${others.join(', ')} in gossip`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export async function stopCluster(nodes: readonly NodeSpec[] = CLUSTER): Promise<void> {
  await Promise.all(nodes.map((n) => stopNode(n)));
}

async function seesPeers(node: NodeSpec, peers: readonly string[]): Promise<boolean> {
  // A whitelist policy keeps the driver on this one node: we ask what *it* knows.
  const client = new cassandra.Client({
    contactPoints: [node.listen],
    localDataCenter: node.dc ?? 'datacenter1',
    policies: {
      loadBalancing: new cassandra.policies.loadBalancing.AllowListPolicy(
        new cassandra.policies.loadBalancing.DCAwareRoundRobinPolicy(node.dc ?? 'datacenter1'),
        [`${node.listen}:9042`],
      ),
    },
  });
  try {
    const rs = await client.execute('SELECT peer FROM system.peers');
    const known = new Set(rs.rows.map((r) => String(r.get('peer'))));
    return peers.every((p) => known.has(p));
  } catch {
    return false;
  } finally {
    await client.shutdown();
  }
}
