/**
 * Write timestamps for plain (Kask-mode) namespaces, where Cassandra orders a key's
 * writes by their client-side timestamps (microseconds).
 *
 * A touch rewrites the value it read with that value's write time + 1 µs (the least
 * timestamp that beats it), so any later write or delete, stamped higher, still wins.
 * A later write stamped exactly + 1 µs would tie, and Cassandra would then keep the
 * cell that expires last: the touched old value could win. The driver's own generator
 * emulates microseconds with a counter within each millisecond, so two writes of one
 * process in one millisecond are 1 µs apart: such ties would be common. Firkin's
 * generator issues even timestamps only, so no Firkin write or delete is ever stamped
 * 1 µs after another: a touch of a value Firkin wrote ties with none of them.
 */
import cassandra from 'cassandra-driver';
import { timestampGeneratorBase } from '../../base/internals.js';

/** The driver's base class (its types declare only an interface; the driver checks `instanceof`: base/internals.ts). */
const TimestampGenerator = timestampGeneratorBase<cassandra.policies.timestampGeneration.TimestampGenerator>(cassandra);

/** Microseconds since the epoch, always even, strictly increasing within the process. */
export class EvenTimestampGenerator extends TimestampGenerator {
  private last = 0;

  override next(): number {
    const now = Date.now() * 1000; // a multiple of 1000: even
    this.last = now > this.last ? now : this.last + 2;
    return this.last;
  }
}

/** The timestamp a touch writes with: the least that beats the value's own (`written`). */
export function touchTimestamp(written: cassandra.types.Long): cassandra.types.Long {
  return written.add(1);
}
