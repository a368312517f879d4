/**
 * How driver failures are classified, with error objects made from cassandra-driver's
 * own classes, filled in as its protocol reader (lib/readers.js) fills them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import cassandra from 'cassandra-driver';
import { classify, storageError, truncateMayHaveApplied } from '../../src/storage/cassandra/errors.js';
import { StorageError } from '../../src/storage/errors.js';

const kindOf = (err: unknown): string => (err instanceof StorageError ? err.kind : String(err));

const { errors, types } = cassandra;
const codes = types.responseErrorCodes;

function response(code: number, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new errors.ResponseError(code, message), extra);
}
const writeTimeout = (writeType: string): Error =>
  response(codes.writeTimeout, 'Server timeout during write query', { consistencies: types.consistencies.localSerial, received: 0, blockFor: 1, writeType });

describe('cassandra error classification', () => {
  const permanent: [string, Error, string][] = [
    ['unconfigured table (Cassandra 4)', response(codes.invalid, 'unconfigured table nope'), 'missing-table'],
    ['missing table (Cassandra 5)', response(codes.invalid, 'table nope does not exist'), 'missing-table'],
    ['missing keyspace', response(codes.invalid, 'keyspace nope_ks does not exist'), 'missing-keyspace'],
    ['missing keyspace (USE)', response(codes.invalid, "Keyspace 'nope_ks' does not exist"), 'missing-keyspace'],
    ['other invalid query', response(codes.invalid, 'Invalid STRING constant (x) for "value" of type blob'), 'invalid-query'],
    ['syntax error', response(codes.syntaxError, "line 1:0 no viable alternative at input 'SELEC'"), 'invalid-query'],
    ['unauthorized', response(codes.unauthorized, 'User firkin has no SELECT permission on <table ks.t>'), 'unauthorized'],
    ['bad credentials (server)', response(codes.badCredentials, 'Provided username cassandra and/or password are incorrect'), 'bad-credentials'],
    ['bad credentials (driver)', new errors.AuthenticationError('Provided username cassandra and/or password are incorrect'), 'bad-credentials'],
    ['config error', response(codes.configError, 'Cannot add column'), 'configuration'],
    ['protocol error', response(codes.protocolError, 'Invalid or unsupported protocol version'), 'protocol'],
    [
      'every host refused the credentials',
      new errors.NoHostAvailableError({
        '127.0.0.1:9042': new errors.AuthenticationError('bad password'),
        '127.0.0.2:9042': new errors.AuthenticationError('bad password'),
      }),
      'bad-credentials',
    ],
  ];
  for (const [what, err, cause] of permanent) {
    it(`${what} is permanent (${cause}): 500, never retried`, () => {
      assert.deepEqual(classify(err), { kind: 'permanent', cause });
      const mapped = storageError(err, { lwt: false, where: 't get' });
      assert.equal(kindOf(mapped), 'permanent');
      assert.equal(mapped.category, cause);
      assert.equal(mapped.cause, err);
      assert.doesNotMatch(mapped.message, new RegExp(err.message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'no driver text in the message');
    });
  }

  const transient: [string, Error][] = [
    ['unavailable at LOCAL_SERIAL (a Paxos phase: nothing accepted)', response(codes.unavailableException, 'Cannot achieve consistency level', { consistencies: 9, required: 2, alive: 1 })],
    ['overloaded', response(codes.overloaded, 'Overloaded')],
    ['bootstrapping', response(codes.isBootstrapping, 'Bootstrapping')],
    ['truncate error', response(codes.truncateError, 'Truncate failed')],
    ['read failure', response(codes.readFailure, 'Operation failed')],
    ['no host available (network)', new errors.NoHostAvailableError({ '127.0.0.1:9042': Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })],
    [
      'no host available (one refused credentials, one unreachable)',
      new errors.NoHostAvailableError({
        '127.0.0.1:9042': new errors.AuthenticationError('bad password'),
        '127.0.0.2:9042': new Error('connect ECONNREFUSED'),
      }),
    ],
    ['busy connections', new errors.BusyConnectionError('127.0.0.1:9042', 2048, 1)],
    ['a socket error', new Error('read ECONNRESET')],
  ];
  for (const [what, err] of transient) {
    it(`${what} is transient: 503 with Retry-After, for plain and conditional writes alike`, () => {
      assert.equal(classify(err).kind, 'transient');
      assert.ok(storageError(err, { lwt: false, where: 't insert' }).transient);
      assert.ok(storageError(err, { lwt: true, where: 't add' }).transient, 'nothing was applied');
    });
  }

  const timeouts: [string, Error][] = [
    ['a write timeout of the Paxos phase (writeType CAS)', writeTimeout('CAS')],
    ['a write timeout of the commit phase (writeType SIMPLE)', writeTimeout('SIMPLE')],
    ['a write failure', response(codes.writeFailure, 'Operation failed', { writeType: 'CAS' })],
    ['a client-side timeout (OperationTimedOut)', new errors.OperationTimedOutError('The host 127.0.0.1:9042 did not reply before timeout 100 ms', '127.0.0.1:9042')],
    ['no host available after client-side timeouts', new errors.NoHostAvailableError({ '127.0.0.1:9042': new errors.OperationTimedOutError('timeout', '127.0.0.1:9042') })],
  ];
  for (const [what, err] of timeouts) {
    it(`${what}: outcome unknown for a lightweight transaction, 503 for a plain statement`, () => {
      assert.deepEqual(classify(err), { kind: 'transient', timeout: true });
      assert.ok(storageError(err, { lwt: true, where: 't cas' }).kind === 'outcome-unknown');
      // A write failure is an answer, not a timeout: 503 all the same.
      assert.equal(storageError(err, { lwt: false, where: 't insert' }).kind, what === 'a write failure' ? 'unavailable' : 'timeout');
    });
  }

  const afterAccept: [string, Error][] = [
    ['unavailable at LOCAL_QUORUM (a Paxos commit, after the proposal was accepted)', response(codes.unavailableException, 'Cannot achieve consistency level', { consistencies: 6, required: 2, alive: 1 })],
    ['a server error', response(codes.serverError, 'java.lang.RuntimeException')],
  ];
  for (const [what, err] of afterAccept) {
    it(`${what}: transient, and of unknown outcome for a lightweight transaction`, () => {
      assert.equal(classify(err).kind, 'transient');
      assert.ok(storageError(err, { lwt: false, where: 't insert' }).transient);
      assert.ok(storageError(err, { lwt: true, where: 't add' }).kind === 'outcome-unknown', 'it may have applied');
    });
  }

  it('a read timeout is never ambiguous: nothing was written', () => {
    const err = response(codes.readTimeout, 'Server timeout during read query', { consistencies: 9, received: 0, blockFor: 1, isDataPresent: 0 });
    assert.ok(storageError(err, { lwt: true, where: 't add' }).transient);
    assert.ok(storageError(err, { lwt: false, where: 't get' }).transient);
  });
});

describe('a failed TRUNCATE', () => {
  // Cassandra 5's TruncateStatement wraps its UnavailableException and its TimeoutException alike.
  const cases: [string, Error, boolean][] = [
    ['refused with a node down (Cassandra 5)', response(codes.truncateError, 'Error during truncate: Cannot achieve consistency level ALL'), false],
    ['refused as unavailable', response(codes.unavailableException, 'Cannot achieve consistency level ALL'), false],
    ['timed out on the node', response(codes.truncateError, 'Error during truncate: Truncate timed out - received only 1 responses'), true],
    ['timed out in the driver', new errors.OperationTimedOutError('The host 127.0.0.1:9042 did not reply before timeout 65000 ms'), true],
    ['a server error mid-way', response(codes.serverError, 'java.lang.RuntimeException'), true],
    ['no host reachable', new errors.NoHostAvailableError({ '127.0.0.1:9042': new Error('connect ECONNREFUSED') }), false],
    ['no host answered in time', new errors.NoHostAvailableError({ '127.0.0.1:9042': new errors.OperationTimedOutError('timeout') }), true],
  ];
  for (const [what, err, mayHaveApplied] of cases) {
    it(`${what}: ${mayHaveApplied ? 'may have applied on some nodes' : 'changed nothing'}; transient (503) either way`, () => {
      assert.equal(truncateMayHaveApplied(err), mayHaveApplied);
      assert.equal(classify(err).kind, 'transient');
    });
  }
});
