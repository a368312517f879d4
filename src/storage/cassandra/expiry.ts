/**
 * The latest expiry Cassandra can store. Cassandra 4.1, and 5.0 in its default
 * storage_compatibility_mode (CASSANDRA_4, which a cluster upgraded from 4.1 keeps
 * until every node has moved on), keep a cell's expiry as a signed 32-bit count of
 * seconds and refuse a write whose TTL would end after 2038-01-19T03:14:07Z. A TTL
 * Firkin sends is capped so that it ends at least a day before then: with the 20-year
 * TTLs the config allows, a write would otherwise fail (500) instead of living ~11 years.
 */

/** Cassandra's last storable expiry, less a second (Cell.MAX_DELETION_TIME in 4.x): 2038-01-19T03:14:06Z. */
export const LAST_EXPIRY_SECONDS = 2 ** 31 - 2;
/** Room for a coordinator whose clock runs ahead of this process's. */
const MARGIN_SECONDS = 86_400;

/**
 * The TTL to send for `ttlSeconds` at `nowMs`: unchanged unless it would end within a
 * day of Cassandra's limit; 0 (no expiry) stays 0. Within a day of the limit itself
 * nothing is capped any more (a 1-second TTL would lose every write): only clusters
 * past the 2038 format can store such a write, and the others refuse it.
 */
export function storableTtl(ttlSeconds: number, nowMs = Date.now()): number {
  const latest = LAST_EXPIRY_SECONDS - MARGIN_SECONDS - Math.ceil(nowMs / 1000);
  if (ttlSeconds === 0 || latest < 1) return ttlSeconds;
  return Math.min(ttlSeconds, latest);
}
