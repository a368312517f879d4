/**
 * Consistency levels: fixed by design, not options.
 * - reads and writes at LOCAL_QUORUM: a majority of the local data centre's replicas,
 *   so a data centre keeps working when another is cut off;
 * - deletes at EACH_QUORUM: a majority in every data centre, so a logged-out session
 *   cannot still be read in a data centre the delete did not reach (Firkin answers
 *   503 rather than a 204 that only some data centres saw);
 * - lightweight transactions with serial consistency LOCAL_SERIAL: Paxos among the local
 *   data centre's replicas, atomic within it; a namespace may choose SERIAL instead
 *   (`serial_consistency: serial`): Paxos among a quorum of all replicas, atomic across
 *   data centres, at the price of a cross-DC round trip per phase and no conditional
 *   write while a majority of all replicas is unreachable.
 */
import cassandra from 'cassandra-driver';

const { consistencies } = cassandra.types;

export const CONSISTENCY = Object.freeze({
  read: consistencies.localQuorum,
  write: consistencies.localQuorum,
  delete: consistencies.eachQuorum,
  serial: consistencies.localSerial,
  crossDcSerial: consistencies.serial,
});

/**
 * The options of the data path's statements, built once rather than per request (the
 * driver only reads them: frozen, so that a driver that wrote to them would fail loudly). Prepared: the client's default (client-options.ts).
 */
export const STATEMENT_OPTIONS = Object.freeze({
  read: Object.freeze({ consistency: CONSISTENCY.read, isIdempotent: true }),
  write: Object.freeze({ consistency: CONSISTENCY.write, isIdempotent: true }),
  delete: Object.freeze({ consistency: CONSISTENCY.delete, isIdempotent: true }),
});
