import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Router } from '../../src/api/route.js';

const sessions = { baseUri: '/sessions/v1/' };
const other = { baseUri: '/sessions/v1/other/' };
const router = new Router([sessions, other], 8);

function refused(url: string): { type: string; detail: string | undefined } {
  const target = router.parse(url);
  assert.equal(target.ok, false, `${url} refused`);
  if (target.ok) throw new Error('unreachable');
  return { type: target.problem.type, detail: target.detail };
}

describe('Router.parse', () => {
  it('routes to the longest base and takes the key as sent when it has no escape', () => {
    const a = router.parse('/sessions/v1/abc');
    assert.deepEqual(a, { ok: true, namespace: sessions, key: 'abc' });
    const b = router.parse('/sessions/v1/other/k');
    assert.deepEqual(b, { ok: true, namespace: other, key: 'k' });
    assert.deepEqual(router.parse('/sessions/v1/a%2Fb'), { ok: true, namespace: sessions, key: 'a/b' });
    assert.deepEqual(router.parse('/sessions/v1/%E2%82%AC'), { ok: true, namespace: sessions, key: '€' });
  });

  it('measures a key in bytes, escaped or not, against max_key_bytes', () => {
    assert.equal(router.parse('/sessions/v1/kkkkkkkk').ok, true);
    assert.match(refused('/sessions/v1/kkkkkkkkk').detail!, /: it is 9 bytes long$/);
    assert.match(refused('/sessions/v1/%E2%82%AC%E2%82%ACabc').detail!, /: it is 9 bytes long$/);
    assert.match(refused(`/sessions/v1/${'k'.repeat(25)}`).detail!, /longer than 24 characters$/);
  });

  it('checks in a fixed order: no route, query, no key, more segments, length, printable, escapes, controls', () => {
    assert.equal(refused('/elsewhere/k').type, 'urn:firkin:problem:no-namespace');
    assert.match(refused('/sessions/v1/k?x').detail!, /Query strings/);
    assert.match(refused('/sessions/v1/').detail!, /names no key/);
    // a segment after the key wins over an unprintable byte and the length
    assert.match(refused(`/sessions/v1/a\u00e9${'k'.repeat(30)}/b`).detail!, /segments after the key/);
    // the length wins over an unprintable byte
    assert.match(refused(`/sessions/v1/\u00e9${'k'.repeat(30)}`).detail!, /longer than 24 characters/);
    for (const raw of ['a b', 'a\u00e9', 'a\u007f', 'a\u0001']) assert.match(refused(`/sessions/v1/${raw}`).detail!, /printable ASCII/, JSON.stringify(raw));
    assert.match(refused('/sessions/v1/bad%zz').detail!, /not valid percent-encoded UTF-8/);
    assert.match(refused('/sessions/v1/a%09b').detail!, /control character/);
    assert.match(refused('/sessions/v1/a%7Fb').detail!, /control character/);
  });
});
