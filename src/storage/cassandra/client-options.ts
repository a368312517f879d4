/** cassandra-driver options from Firkin's (Kask's) cassandra config keys. */
import { checkServerIdentity } from 'node:tls';
import cassandra from 'cassandra-driver';
import type { CassandraConfig } from '../../config/types.js';
import { readCassandraTls } from '../../config/tls-files.js';
import { CONSISTENCY } from './consistency.js';

/**
 * The driver's default retry policy, except that a statement not marked idempotent (a
 * lightweight transaction) is never re-sent after an "unavailable" answer: that answer
 * can come from a Paxos commit after the proposal was accepted, and a second try of an
 * add that did apply would answer 412 for the client's own write.
 */
class NoBlindRetryPolicy extends cassandra.policies.retry.RetryPolicy {
  override onUnavailable(
    info: cassandra.policies.retry.OperationInfo,
    consistency: cassandra.types.consistencies,
    required: number,
    alive: boolean,
  ): cassandra.policies.retry.DecisionInfo {
    const options = (info as { executionOptions?: { isIdempotent(): boolean } }).executionOptions;
    if (options !== undefined && !options.isIdempotent()) return this.rethrowResult();
    return super.onUnavailable(info, consistency, required, alive);
  }
}

export function clientOptions(c: CassandraConfig, { withKeyspace }: { withKeyspace: boolean }): cassandra.ClientOptions {
  const options: cassandra.ClientOptions = {
    contactPoints: [...c.hosts],
    localDataCenter: c.localDc,
    protocolOptions: { port: c.port },
    socketOptions: { connectTimeout: c.connectTimeoutMs, readTimeout: c.queryTimeoutMs },
    queryOptions: { prepare: true, consistency: CONSISTENCY.read, serialConsistency: CONSISTENCY.serial },
    // Come back quickly when nodes return (the default waits up to 10 minutes between tries).
    policies: {
      reconnection: new cassandra.policies.reconnection.ExponentialReconnectionPolicy(500, 5000, false),
      retry: new NoBlindRetryPolicy(),
    },
  };
  if (withKeyspace) options.keyspace = c.keyspace;
  if (c.authentication) {
    options.credentials = { username: c.authentication.username, password: c.authentication.password };
  }
  if (c.tls) {
    // Checked as check-config checks them: a TlsFileError names the key and the file that cannot be used.
    const { ca, cert, key } = readCassandraTls(c.tls);
    options.sslOptions = {
      ca: [ca],
      ...(cert && key ? { cert, key } : {}),
      rejectUnauthorized: true,
      checkServerIdentity: c.tls.hostVerification ? checkServerIdentity : () => undefined,
    };
  }
  return options;
}
