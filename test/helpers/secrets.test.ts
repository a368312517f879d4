import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findKeysIn } from './secrets.js';

describe('the key-in-logs check', () => {
  it('finds a key that a log line holds, in clear or percent-encoded, and ignores short words', () => {
    const key = 'enwiki:MWSession:0123456789abcdef';
    const url = `http://127.0.0.1:1/sessions/v1/${encodeURIComponent(key)}`;
    assert.deepEqual(findKeysIn([`{"msg":"request","key":"${key}"}`], [url]), [key]);
    assert.deepEqual(findKeysIn([`{"url":"/sessions/v1/${encodeURIComponent(key)}"}`], [url]), [key]);
    assert.deepEqual(findKeysIn(['{"msg":"request","key_hash":"q3Yb0fX_1kPa"}'], [url]), []);
    assert.deepEqual(findKeysIn(['{"msg":"alpha"}'], ['http://h/sessions/v1/alpha']), [], 'short words are not tracked');
  });
});
