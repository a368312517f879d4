/**
 * Consistency levels: fixed by design, not options.
 * - reads and writes at LOCAL_QUORUM: a majority of the local data centre's replicas,
 *   so a data centre keeps working when another is cut off;
 * - deletes at EACH_QUORUM: a majority in every data centre, so a logged-out session
 *   cannot still be read in a data centre the delete did not reach (Firkin answers
 *   503 rather than a 204 that only some data centres saw);
 * - lightweight transactions (add, compare-and-set) with serial consistency LOCAL_SERIAL.
 */
import cassandra from 'cassandra-driver';

const { consistencies } = cassandra.types;

export const CONSISTENCY = Object.freeze({
  read: consistencies.localQuorum,
  write: consistencies.localQuorum,
  delete: consistencies.eachQuorum,
  serial: consistencies.localSerial,
});
