/**
 * A full garbage collection in another Node.js process, through its inspector
 * (started with `--inspect=127.0.0.1:0`), so a memory measurement compares live data
 * rather than wherever V8's collection cycle happened to be. A minimal WebSocket client
 * (RFC 6455: masked text frames out, unmasked frames in) over node:http, enough for
 * one DevTools-protocol command and its answer.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { Socket } from 'node:net';

/** The inspector's WebSocket URL from a process's stderr, once it has printed it. */
export function inspectorUrl(stderr: string): string | undefined {
  return /Debugger listening on (ws:\/\/\S+)/.exec(stderr)?.[1];
}

function frame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const mask = randomBytes(4);
  const length =
    payload.length < 126
      ? Buffer.from([0x80 | payload.length])
      : Buffer.from([0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x81]), length, mask, masked]);
}

/** Complete frames at the front of `buffer`: their payloads, and how many bytes they took. */
function readFrames(buffer: Buffer): { payloads: string[]; used: number } {
  const payloads: string[] = [];
  let at = 0;
  while (buffer.length - at >= 2) {
    let length = buffer[at + 1]! & 0x7f;
    let header = 2;
    if (length === 126) {
      if (buffer.length - at < 4) break;
      length = buffer.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      if (buffer.length - at < 10) break;
      length = Number(buffer.readBigUInt64BE(at + 2));
      header = 10;
    }
    if (buffer.length - at < header + length) break;
    payloads.push(buffer.subarray(at + header, at + header + length).toString('utf8'));
    at += header + length;
  }
  return { payloads, used: at };
}

/** Send one DevTools-protocol command and resolve with its result. */
export async function inspectorCommand(url: string, method: string, params: Record<string, unknown> = {}): Promise<unknown> {
  const u = new URL(url);
  const socket = await new Promise<Socket>((resolve, reject) => {
    const req = request({
      host: u.hostname,
      port: u.port,
      path: u.pathname,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': randomBytes(16).toString('base64') },
    });
    req.on('upgrade', (_res, s: Socket) => resolve(s));
    req.on('response', (res) => reject(new Error(`inspector refused the upgrade: ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
  try {
    return await new Promise((resolve, reject) => {
      let pending = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        const { payloads, used } = readFrames(pending);
        pending = pending.subarray(used);
        for (const p of payloads) {
          const message = JSON.parse(p) as { id?: number; result?: unknown; error?: { message: string } };
          if (message.id !== 1) continue;
          if (message.error) reject(new Error(`${method}: ${message.error.message}`));
          else resolve(message.result);
        }
      });
      socket.on('error', reject);
      socket.on('close', () => reject(new Error(`inspector closed before answering ${method}`)));
      socket.write(frame(JSON.stringify({ id: 1, method, params })));
    });
  } finally {
    socket.destroy();
  }
}
