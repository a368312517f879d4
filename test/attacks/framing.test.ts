/**
 * Attack: ambiguous HTTP/1.1 framing (RFC 9112), each request followed on the same
 * connection by a pipelined request that would be served if the server kept
 * reading: the ground of request smuggling behind a proxy that frames the bytes
 * otherwise, and of requests that vanish unanswered.
 *
 * Proves that
 *   - `Transfer-Encoding` in an HTTP/1.0 request, several `Host` fields,
 *     `Content-Length` with `Transfer-Encoding`, a transfer coding other than
 *     chunked, and differing `Content-Length` values are each answered 400 (a problem document) with `Connection: close`,
 *     the connection is closed, the pipelined request is not served and nothing
 *     is stored;
 *   - a request with `Connection: Upgrade` (websocket, h2c) is answered as an
 *     ordinary request (RFC 9110 §7.8: the server may ignore Upgrade), and the
 *     request pipelined behind it is either answered too or the answer says
 *     `Connection: close` and the connection closes: never silence on an open
 *     connection;
 *   - an absolute-form target (`PUT http://host/sessions/v1/k`) is served by its
 *     path (RFC 9112 §3.2.2), not answered 404.
 */
import { describe, it } from 'node:test';
import { RawConnection, request, type RawResponse } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { Checks, checkService, figures, killService, TEST_TIMEOUT_MS, workerPids } from './harness.js';

const FOLLOWER = 'GET /healthz HTTP/1.1\r\nHost: firkin\r\n\r\n';

interface Case {
  readonly name: string;
  readonly key: string;
  readonly bytes: (key: string) => string;
}

const AMBIGUOUS: readonly Case[] = [
  {
    name: 'HTTP/1.0 with Transfer-Encoding: chunked (keep-alive asked)',
    key: 'framing-http10-chunked:0001',
    bytes: (k) => `PUT /sessions/v1/${k} HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nforged\r\n0\r\n\r\n`,
  },
  {
    name: 'two Host fields',
    key: 'framing-two-hosts:0001',
    bytes: (k) => `PUT /sessions/v1/${k} HTTP/1.1\r\nHost: firkin\r\nHost: elsewhere.example\r\nContent-Length: 6\r\n\r\nforged`,
  },
  {
    name: 'two Host fields with the same value',
    key: 'framing-same-hosts:0001',
    bytes: (k) => `PUT /sessions/v1/${k} HTTP/1.1\r\nHost: firkin\r\nHost: firkin\r\nContent-Length: 6\r\n\r\nforged`,
  },
  {
    name: 'Content-Length with Transfer-Encoding',
    key: 'framing-cl-te:0001',
    bytes: (k) => `PUT /sessions/v1/${k} HTTP/1.1\r\nHost: firkin\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nforged\r\n0\r\n\r\n`,
  },
  {
    name: 'Transfer-Encoding: gzip, chunked (a coding Firkin cannot undo, the value would be stored coded)',
    key: 'framing-gzip-chunked:0001',
    bytes: (k) => `PUT /sessions/v1/${k} HTTP/1.1\r\nHost: firkin\r\nTransfer-Encoding: gzip, chunked\r\n\r\n6\r\nforged\r\n0\r\n\r\n`,
  },
  {
    name: 'two different Content-Length values',
    key: 'framing-two-lengths:0001',
    bytes: (k) => `PUT /sessions/v1/${k} HTTP/1.1\r\nHost: firkin\r\nContent-Length: 6\r\nContent-Length: 3\r\n\r\nforged`,
  },
];

const UPGRADES: readonly Case[] = [
  {
    name: 'GET with Connection: Upgrade, Upgrade: websocket',
    key: 'framing-upgrade-ws:0001',
    bytes: (k) => `GET /sessions/v1/${k} HTTP/1.1\r\nHost: firkin\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
  },
  {
    name: 'PUT with a body and Connection: Upgrade, HTTP2-Settings, Upgrade: h2c',
    key: 'framing-upgrade-h2c:0001',
    bytes: (k) => `PUT /sessions/v1/${k} HTTP/1.1\r\nHost: firkin\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Length: 7\r\n\r\ngenuine`,
  },
];

const show = (rs: readonly RawResponse[], c: RawConnection): string =>
  `${rs.map((r) => `${r.status}${r.headers.connection === 'close' ? '(close)' : ''}`).join(',') || 'no answer'}${c.closed ? ' closed' : ' open'}`;

describe('attack: ambiguous framing and upgrades, with a request pipelined behind', () => {
  it('refuses ambiguous framing with 400 and a close, answers upgrades as plain requests without losing the next, serves absolute-form targets', { timeout: TEST_TIMEOUT_MS }, async () => {
    const f = await spawnFirkin(tempDir(), { embedded: { path: 'data' } });
    const workersBefore = workerPids(f);
    const checks = new Checks();
    const results: Record<string, string> = {};

    for (const c of AMBIGUOUS) {
      const conn = await RawConnection.open(f.url);
      const answers = await conn.send(c.bytes(c.key) + FOLLOWER, 2, 1500);
      await conn.waitClosed(1000);
      const stored = (await request(`${f.url}/sessions/v1/${c.key}`)).status;
      results[c.name] = `${show(answers, conn)}; stored ${stored}`;
      const first = answers[0];
      checks.ok(first?.status === 400, `${c.name}: answered ${show(answers, conn)}, not 400`);
      checks.ok(first === undefined || /problem\+json/.test(first.headers['content-type'] ?? ''), `${c.name}: the 400 is not a problem document`);
      checks.ok(first?.headers.connection === 'close' && conn.closed, `${c.name}: ${show(answers, conn)} (expected Connection: close and the connection closed)`);
      checks.ok(answers.length === 1, `${c.name}: the pipelined request behind it was answered (${show(answers, conn)})`);
      checks.ok(stored === 404, `${c.name}: the value was stored (GET answered ${stored})`);
      conn.close();
    }

    for (const c of UPGRADES) {
      const conn = await RawConnection.open(f.url);
      const answers = await conn.send(c.bytes(c.key) + FOLLOWER, 2, 1500);
      if (answers.length === 1) await conn.waitClosed(1000);
      const first = answers[0];
      results[c.name] = show(answers, conn);
      checks.ok(first !== undefined && first.status < 500 && first.status !== 101, `${c.name}: answered ${show(answers, conn)} (expected the request served, no switch)`);
      const followerAnswered = answers.length === 2 && answers[1]!.status === 200;
      const closedCleanly = answers.length === 1 && first?.headers.connection === 'close' && conn.closed;
      checks.ok(followerAnswered || closedCleanly, `${c.name}: ${show(answers, conn)}: the pipelined request was neither answered nor the connection closed with Connection: close`);
      conn.close();
    }
    const h2cStored = await request(`${f.url}/sessions/v1/${UPGRADES[1]!.key}`);
    results.h2c_read_back = `${h2cStored.status} ${h2cStored.body.toString()}`;
    checks.ok(h2cStored.status === 200 && h2cStored.body.toString() === 'genuine', `the PUT with Upgrade: h2c read back ${results.h2c_read_back}`);

    const absolute = await RawConnection.open(f.url);
    const absKey = 'framing-absolute-form:0001';
    const absAnswers = await absolute.send(
      `PUT http://firkin.example/sessions/v1/${absKey} HTTP/1.1\r\nHost: firkin.example\r\nContent-Length: 8\r\n\r\nabsolute` +
        `GET http://firkin.example/sessions/v1/${absKey} HTTP/1.1\r\nHost: firkin.example\r\n\r\n`,
      2,
      1500,
    );
    absolute.close();
    const absReadBack = await request(`${f.url}/sessions/v1/${absKey}`);
    results.absolute_form = `${show(absAnswers, absolute)}; read back ${absReadBack.status} ${absReadBack.body.toString()}`;
    checks.ok(absAnswers[0]?.status === 201, `PUT with an absolute-form target answered ${absAnswers[0]?.status}, not 201`);
    checks.ok(absAnswers[1]?.status === 200 && absAnswers[1].body === 'absolute', `GET with an absolute-form target answered ${absAnswers[1]?.status}`);
    checks.ok(absReadBack.status === 200 && absReadBack.body.toString() === 'absolute', `the value read back by its path: ${absReadBack.status}`);

    figures('framing', results);
    checkService(checks, f, workersBefore);
    await killService(f);
    checks.done();
  });
});
