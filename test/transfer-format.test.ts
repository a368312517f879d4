/**
 * The export stream (src/transfer-format.ts, docs/export-format.md): what a writer
 * writes, a reader reads back; a reader refuses another version, a damaged line, a
 * stream cut short anywhere (in a line, at a line's end, before its end line), a count
 * that does not match and anything after the end line.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endLine, headerLine, lineLimitFor, MAX_LINE_BYTES, readStream, recordLine, StreamRefused, type StreamItem } from '../src/transfer-format.js';

const AT = 1_767_225_600_123;
const header = headerLine({ at: AT, source: 'embedded', firkin: '0.1.0', namespaces: [{ name: 'sessions', sealed: false }, { name: 'vault', sealed: true }] });
const records = [
  recordLine('sessions', 'enwiki:MWSession:1', Buffer.from('one'), AT + 3_599_877, AT),
  recordLine('sessions', 'clé ünicode "quoted"\\', Buffer.from([0, 255, 10, 13]), null, AT),
  recordLine('vault', 's1:k1:AAAA', Buffer.alloc(70_000, 7), AT + 1, AT),
];
const whole = header + records.join('') + endLine(records.length);

async function read(input: string | Buffer[]): Promise<StreamItem[]> {
  const chunks = typeof input === 'string' ? [Buffer.from(input)] : input;
  const items: StreamItem[] = [];
  for await (const item of readStream(chunks)) items.push(item);
  return items;
}

async function refusal(input: string | Buffer[]): Promise<string> {
  try {
    await read(input);
  } catch (err) {
    assert.ok(err instanceof StreamRefused, String(err));
    return err.message;
  }
  assert.fail('the stream was not refused');
}

describe('the export stream', () => {
  it('reads back what was written: header, records (bytes, TTL to the millisecond, no expiry), in any chunking', async () => {
    // Every line boundary, and every split inside a multi-byte character, must read the same.
    const bytes = Buffer.from(whole);
    for (const size of [1, 7, 4096, bytes.length]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      const items = await read(chunks);
      assert.equal(items.length, 4);
      const [h, a, b, c] = items;
      assert.ok(h?.kind === 'header');
      assert.equal(h.header.at, AT);
      assert.deepEqual(h.header.namespaces, [{ name: 'sessions', sealed: false }, { name: 'vault', sealed: true }]);
      assert.ok(a?.kind === 'record' && b?.kind === 'record' && c?.kind === 'record');
      assert.deepEqual({ ...a.record, value: a.record.value.toString() }, { ns: 'sessions', key: 'enwiki:MWSession:1', value: 'one', ttl: 3599.877 });
      assert.equal(b.record.key, 'clé ünicode "quoted"\\');
      assert.deepEqual([...b.record.value], [0, 255, 10, 13]);
      assert.equal(b.record.ttl, null);
      assert.equal(c.record.value.length, 70_000);
      assert.equal(c.line, 4);
    }
  });

  it('refuses what is not a whole stream of format 1', async () => {
    const lines = whole.split('\n');
    assert.match(await refusal(''), /input is empty/);
    assert.match(await refusal('hello\n'), /not a firkin export stream/);
    assert.match(await refusal('{"firkin-export":2,"at":1,"namespaces":[]}\n{"firkin-export-end":2,"records":0}\n'), /export format 2; this Firkin reads format 1/);
    assert.match(await refusal('{"firkin-export":1}\n'), /header, is damaged/);
    // Cut at the end of a line, before the end line.
    assert.match(await refusal(`${lines.slice(0, 3).join('\n')}\n`), /ends after 2 records without its end line: it was cut short/);
    // Cut in the middle of a line (the end line too).
    assert.match(await refusal(whole.slice(0, header.length + 20)), /ends in the middle of line 2: it was cut short/);
    assert.match(await refusal(whole.slice(0, -5)), /ends in the middle of line 5/);
    // A record lost from the middle.
    assert.match(await refusal([lines[0], lines[1], lines[3], lines[4], ''].join('\n')), /counts 3 records, but it held 2/);
    assert.match(await refusal(`${whole}${records[0]}`), /line 6 follows the stream's end line/);
    assert.match(await refusal(`${header}{"ns":"sessions","key":"k","value":"a b","ttl":1}\n${endLine(1)}`), /line 2: its value is not base64/);
    assert.match(await refusal(`${header}{"ns":"other","key":"k","value":"","ttl":1}\n${endLine(1)}`), /namespace "other", which the stream's header does not name/);
    assert.match(await refusal(`${header}{"ns":"sessions","key":"k","value":"","ttl":"1"}\n${endLine(1)}`), /line 2 is not a record of format 1/);
    assert.match(await refusal(`${header}{"ns":"sessions",\n`), /line 2 is not JSON/);
  });

  it("reads past a record line longer than the reader's limit without holding it, and still counts it", async () => {
    const limit = lineLimitFor(10_000, 1024);
    assert.ok(limit > 10_000 * 1.34 && limit < 30_000, `limit ${limit}`);
    const big = recordLine('sessions', 'big', Buffer.alloc(40_000, 1), null, AT);
    const stream = header + records[0] + big + records[1] + endLine(3);
    const bytes = Buffer.from(stream);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 1000) chunks.push(bytes.subarray(i, i + 1000));
    for (const input of [[bytes], chunks]) {
      const items: StreamItem[] = [];
      for await (const item of readStream(input, limit)) items.push(item);
      assert.deepEqual(
        items.map((i) => i.kind),
        ['header', 'record', 'oversized', 'record'],
      );
      assert.deepEqual(items[2], { kind: 'oversized', line: 3 });
    }
    // Skipped lines count toward the end line: one lost is still told.
    await assert.rejects(async () => {
      for await (const _ of readStream([Buffer.from(header + big + endLine(2))], limit));
    }, /counts 2 records, but it held 1/);
  });

  it('holds at most one line of bounded length: a longer one is refused before it ends', async () => {
    const chunk = Buffer.alloc(1 << 20, 0x41);
    const chunks = [Buffer.from(header), ...Array.from({ length: Math.ceil(MAX_LINE_BYTES / chunk.length) + 1 }, () => chunk)];
    assert.match(await refusal(chunks), /line 2 is longer than \d+ bytes/);
  });
});
