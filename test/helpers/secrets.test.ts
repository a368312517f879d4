import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findCredentialsIn, findKeysIn } from './secrets.js';

describe('the key-in-logs check', () => {
  it('finds a key that a log line holds, in clear or percent-encoded, and ignores short words', () => {
    const key = 'enwiki:MWSession:0123456789abcdef';
    const url = `http://127.0.0.1:1/sessions/v1/${encodeURIComponent(key)}`;
    assert.deepEqual(findKeysIn([`{"msg":"request","key":"${key}"}`], [url]), [key]);
    assert.deepEqual(findKeysIn([`{"url":"/sessions/v1/${encodeURIComponent(key)}"}`], [url]), [key]);
    assert.deepEqual(findKeysIn(['{"msg":"request","key_hash":"q3Yb0fX_1kPa"}'], [url]), []);
    assert.deepEqual(findKeysIn(['{"msg":"alpha"}'], ['http://h/sessions/v1/alpha']), [], 'short words are not tracked');
  });

  it('finds the token of an Authorization header that a log line holds, and ignores short credentials', () => {
    const token = 'edge-token-5f1c2a9e7b3d';
    assert.deepEqual(findCredentialsIn([`{"msg":"authentication failed","token":"${token}"}`], [`Bearer ${token}`]), [token]);
    assert.deepEqual(findCredentialsIn(['{"msg":"authentication failed","token":"edge"}'], [`Bearer ${token}`]), [], 'the name is not the token');
    assert.deepEqual(findCredentialsIn(['{"msg":"x","detail":"Bearer abc"}'], ['Bearer abc']), [], 'short credentials are not tracked');
  });
});
