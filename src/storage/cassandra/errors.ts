/**
 * What a cassandra-driver failure means for the client: worth retrying, not worth
 * retrying until an operator acts, or (for a lightweight transaction) of unknown outcome.
 *
 * Classified from the driver's own classes (lib/errors.js) and, for errors the server
 * sent, the protocol's error codes (types.responseErrorCodes):
 *
 * - transient: unavailable, read/write timeout, read/write failure, overloaded,
 *   bootstrapping, truncate error, server error, NoHostAvailable (unless every host
 *   refused for a permanent reason), OperationTimedOut, busy connections, TLS and
 *   socket errors: StorageError `timeout` (the timeouts) or `unavailable`. The server
 *   answers 503 with Retry-After.
 * - permanent: syntax error, invalid (including an unconfigured table or keyspace),
 *   unauthorized, bad credentials (AuthenticationError), config error, protocol error,
 *   already exists, a driver ArgumentError or NotSupportedError: StorageError
 *   `permanent`. Retrying cannot help; the server answers 500 and /readyz reports it.
 * - a write timeout, write failure or OperationTimedOut of a lightweight transaction
 *   may have applied (Paxos may finish it later), and so may one answered
 *   "unavailable" at its commit consistency (not SERIAL/LOCAL_SERIAL: the proposal
 *   may have been accepted) or with a server error: StorageError `outcome-unknown`.
 */
import cassandra from 'cassandra-driver';
import { StorageError, type PermanentCause } from '../errors.js';

const { errors, types } = cassandra;
const codes = types.responseErrorCodes;

export type Classification =
  | { readonly kind: 'transient'; readonly timeout: boolean }
  | { readonly kind: 'permanent'; readonly cause: Exclude<PermanentCause, 'permission'> };

const TRANSIENT: Classification = { kind: 'transient', timeout: false };
const TIMEOUT: Classification = { kind: 'transient', timeout: true };

/** The permanent cause of a server error code, or undefined when the code is transient. */
function permanentCodeCause(code: number, message: string): Exclude<PermanentCause, 'permission'> | undefined {
  switch (code) {
    case codes.syntaxError:
      return 'invalid-query';
    case codes.invalid:
      if (/unconfigured table|table .* does not exist/i.test(message)) return 'missing-table';
      if (/keyspace .* does not exist|does not exist.*keyspace/i.test(message)) return 'missing-keyspace';
      return 'invalid-query';
    case codes.alreadyExists:
      return 'invalid-query';
    case codes.unauthorized:
      return 'unauthorized';
    case codes.badCredentials:
      return 'bad-credentials';
    case codes.configError:
      return 'configuration';
    case codes.protocolError:
      return 'protocol';
    default:
      return undefined;
  }
}

/** Classify any error cassandra-driver rejects with. */
export function classify(err: unknown): Classification {
  if (err instanceof errors.ResponseError) {
    const cause = permanentCodeCause(err.code, err.message);
    if (cause !== undefined) return { kind: 'permanent', cause };
    switch (err.code) {
      case codes.writeTimeout:
      case codes.writeFailure:
      case codes.readTimeout:
        return TIMEOUT;
      default:
        // unavailable, overloaded, bootstrapping, truncate, read failure, server error, unprepared…
        return TRANSIENT;
    }
  }
  if (err instanceof errors.AuthenticationError) return { kind: 'permanent', cause: 'bad-credentials' };
  if (err instanceof errors.ArgumentError || err instanceof errors.NotSupportedError) return { kind: 'permanent', cause: 'invalid-query' };
  if (err instanceof errors.OperationTimedOutError) return TIMEOUT;
  if (err instanceof errors.NoHostAvailableError) {
    // Permanent only when every host tried refused for the same kind of permanent reason
    // (a wrong password refused by every node); any network trouble makes it transient.
    const inner = Object.values((err.innerErrors ?? {}) as Record<string, unknown>).map(classify);
    const first = inner[0];
    if (first?.kind === 'permanent' && inner.every((c) => c.kind === 'permanent' && c.cause === first.cause)) return first;
    return inner.some((c) => c.kind === 'transient' && c.timeout) ? TIMEOUT : TRANSIENT;
  }
  return TRANSIENT;
}

/** Human words for a permanent cause, for /readyz and the problem log line (no driver text). */
export const PERMANENT_CAUSE_TEXT: Readonly<Record<Exclude<PermanentCause, 'permission'>, string>> = {
  'missing-keyspace': 'the keyspace does not exist',
  'missing-table': 'the table does not exist',
  'table-mismatch': "the table does not have Kask's columns (key text PRIMARY KEY, value blob)",
  'invalid-query': 'Cassandra refused the statement as invalid',
  unauthorized: 'the Cassandra user lacks a permission',
  'bad-credentials': 'Cassandra refused the credentials',
  configuration: 'Cassandra refused the configuration',
  protocol: 'a CQL protocol error',
};

/** An "unavailable" of a Paxos round's own phases (SERIAL, LOCAL_SERIAL): refused before anything was accepted. */
function serialPhase(err: InstanceType<typeof errors.ResponseError>): boolean {
  const level = (err as { consistencies?: number }).consistencies;
  return level === types.consistencies.serial || level === types.consistencies.localSerial;
}

/**
 * A TRUNCATE that failed this way may have run on some nodes: Cassandra's own timeout,
 * the driver's, or a server error mid-way. Cassandra wraps both its refusal and its
 * timeout in a truncate error (TruncateStatement: "Error during truncate: <cause>"); the
 * refusal, given before any node is asked because one is down, names the consistency
 * level ALL it could not achieve, and changed nothing.
 */
export function truncateMayHaveApplied(err: unknown): boolean {
  if (err instanceof errors.OperationTimedOutError) return true;
  if (err instanceof errors.NoHostAvailableError) return Object.values((err.innerErrors ?? {}) as Record<string, unknown>).some(truncateMayHaveApplied);
  if (!(err instanceof errors.ResponseError)) return false;
  if (err.code === codes.truncateError) return !REFUSED_UP_FRONT.test(err.message);
  return err.code === codes.serverError;
}

/** The message of Cassandra's UnavailableException, inside a truncate error when a node is down. */
const REFUSED_UP_FRONT = /Cannot achieve consistency level/i;

/**
 * The storage error for a driver failure. `lwt`: the statement was a lightweight
 * transaction, so a timeout leaves its outcome unknown. `where` names the table.
 */
export function storageError(err: unknown, { lwt, where }: { lwt: boolean; where: string }): StorageError {
  const c = classify(err);
  if (c.kind === 'permanent') return permanentError(c.cause, where, err);
  if (lwt && c.timeout && !(err instanceof errors.ResponseError && err.code === codes.readTimeout)) {
    return new StorageError('outcome-unknown', 'a lightweight transaction timed out: it may or may not have applied', { cause: err });
  }
  if (lwt && err instanceof errors.ResponseError && (err.code === codes.serverError || (err.code === codes.unavailableException && !serialPhase(err)))) {
    // Unavailable at the commit (LOCAL_QUORUM / EACH_QUORUM), after the proposal was
    // accepted, or a server error mid-round: the write may have applied.
    return new StorageError('outcome-unknown', 'a lightweight transaction failed after it may have applied', { cause: err });
  }
  // A write failure is ambiguous like a timeout for a lightweight transaction (above), but it is an answer, not a timeout.
  const timedOut = c.timeout && !(err instanceof errors.ResponseError && err.code === codes.writeFailure);
  return new StorageError(timedOut ? 'timeout' : 'unavailable', timedOut ? 'Cassandra did not answer in time' : 'Cassandra request failed', { cause: err });
}

/** A permanent failure of a statement, its cause in words (no driver text); `where` names the table and statement. */
export function permanentError(cause: Exclude<PermanentCause, 'permission'>, where: string, err: unknown): StorageError {
  return new StorageError('permanent', `${PERMANENT_CAUSE_TEXT[cause]} (${cause}; ${where})`, { cause: err, category: cause });
}

/** A connection refused for a permanent reason (refused credentials…). */
export function connectionRefused(cause: Exclude<PermanentCause, 'permission'>, err: unknown): StorageError {
  return new StorageError('permanent', `cannot connect: ${PERMANENT_CAUSE_TEXT[cause]} (${cause})`, { cause: err, category: cause });
}
