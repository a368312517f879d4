/** cassandra-driver options from Firkin's (Kask's) cassandra config keys. */
import { readFileSync } from 'node:fs';
import { checkServerIdentity } from 'node:tls';
import cassandra from 'cassandra-driver';
import type { CassandraConfig } from '../../config/load.js';
import { CONSISTENCY } from './consistency.js';

export function clientOptions(c: CassandraConfig, { withKeyspace }: { withKeyspace: boolean }): cassandra.ClientOptions {
  const options: cassandra.ClientOptions = {
    contactPoints: [...c.hosts],
    localDataCenter: c.localDc,
    protocolOptions: { port: c.port },
    socketOptions: { connectTimeout: c.connectTimeoutMs, readTimeout: c.queryTimeoutMs },
    queryOptions: { prepare: true, consistency: CONSISTENCY.read, serialConsistency: CONSISTENCY.serial },
    // Come back quickly when nodes return (the default waits up to 10 minutes between tries).
    policies: { reconnection: new cassandra.policies.reconnection.ExponentialReconnectionPolicy(500, 5000, false) },
  };
  if (withKeyspace) options.keyspace = c.keyspace;
  if (c.authentication) {
    options.credentials = { username: c.authentication.username, password: c.authentication.password };
  }
  if (c.tls) {
    options.sslOptions = {
      ca: [readFileSync(c.tls.ca)],
      ...(c.tls.cert && c.tls.key ? { cert: readFileSync(c.tls.cert), key: readFileSync(c.tls.key) } : {}),
      rejectUnauthorized: true,
      checkServerIdentity: c.tls.hostVerification ? checkServerIdentity : () => undefined,
    };
  }
  return options;
}
