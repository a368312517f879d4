import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { newRequestId } from '../../src/transport/request-id.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[48][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request IDs', () => {
  it('are UUIDs of version 8 (RFC 9562: a layout of the maker\u2019s own), shaped as randomUUID()s are', () => {
    assert.match(randomUUID(), UUID); // the pattern is the real one
    for (let i = 0; i < 1000; i++) assert.match(newRequestId(), V8);
  });

  it('never repeat within a process, and share the random prefix', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) seen.add(newRequestId());
    assert.equal(seen.size, 100_000);
    const prefixes = new Set([...seen].map((id) => id.slice(0, 24)));
    assert.equal(prefixes.size, 1);
  });

  it('draw their prefix per process', async () => {
    const { execFileSync } = await import('node:child_process');
    const url = new URL('../../src/transport/request-id.js', import.meta.url).href;
    const script = `import(${JSON.stringify(url)}).then((m) => console.log(m.newRequestId()))`;
    const a = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim();
    const b = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim();
    assert.match(a, UUID);
    assert.notEqual(a.slice(0, 24), b.slice(0, 24));
  });
});
