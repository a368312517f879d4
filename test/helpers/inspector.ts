/**
 * A full garbage collection in another Node.js process, through its inspector
 * (started with `--inspect=127.0.0.1:0`), so a memory measurement compares live data
 * rather than wherever V8's collection cycle happened to be. A minimal WebSocket client
 * (RFC 6455: masked frames out; text, continuation, ping and close frames in) over
 * node:http, enough for one DevTools-protocol command and its answer.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { Socket } from 'node:net';

/** The inspector's WebSocket URL from a process's stderr, once it has printed it. */
export function inspectorUrl(stderr: string): string | undefined {
  return /Debugger listening on (ws:\/\/\S+)/.exec(stderr)?.[1];
}

/** A client frame (masked, as RFC 6455 requires): text by default. */
function frame(payload: Buffer, opcode = 0x1): Buffer {
  if (payload.length > 0xffff) throw new Error('inspector command too long for this client');
  const mask = randomBytes(4);
  const length = payload.length < 126 ? Buffer.from([0x80 | payload.length]) : Buffer.from([0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x80 | opcode]), length, mask, masked]);
}

interface Frame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
}

/** Complete frames at the front of `buffer`, and how many bytes they took. */
function readFrames(buffer: Buffer): { frames: Frame[]; used: number } {
  const frames: Frame[] = [];
  let at = 0;
  while (buffer.length - at >= 2) {
    const masked = (buffer[at + 1]! & 0x80) !== 0;
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
    const maskAt = at + header;
    if (masked) header += 4;
    if (buffer.length - at < header + length) break;
    const payload = Buffer.from(buffer.subarray(at + header, at + header + length));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= buffer[maskAt + (i % 4)]!;
    frames.push({ fin: (buffer[at]! & 0x80) !== 0, opcode: buffer[at]! & 0x0f, payload });
    at += header + length;
  }
  return { frames, used: at };
}

/** Send one DevTools-protocol command and resolve with its result (reject after `timeoutMs`). */
export async function inspectorCommand(url: string, method: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<unknown> {
  const u = new URL(url);
  const socket = await new Promise<Socket>((resolve, reject) => {
    const req = request({
      host: u.hostname,
      port: u.port,
      path: u.pathname,
      timeout: timeoutMs,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': randomBytes(16).toString('base64') },
    });
    req.on('upgrade', (_res, s: Socket) => resolve(s));
    req.on('response', (res) => {
      res.resume();
      reject(new Error(`inspector refused the upgrade: ${res.statusCode}`));
    });
    req.on('timeout', () => req.destroy(new Error(`inspector did not answer the upgrade within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
  try {
    return await new Promise((resolve, reject) => {
      let pending = Buffer.alloc(0);
      let message: Buffer[] = [];
      const onMessage = (text: string): void => {
        let parsed: { id?: number; result?: unknown; error?: { message: string } };
        try {
          parsed = JSON.parse(text) as typeof parsed;
        } catch {
          reject(new Error(`inspector sent a message that is not JSON: ${text.slice(0, 80)}`));
          return;
        }
        if (parsed.id !== 1) return; // an event, not our answer
        if (parsed.error) reject(new Error(`${method}: ${parsed.error.message}`));
        else resolve(parsed.result);
      };
      socket.setTimeout(timeoutMs, () => reject(new Error(`inspector did not answer ${method} within ${timeoutMs} ms`)));
      socket.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        const { frames, used } = readFrames(pending);
        pending = pending.subarray(used);
        for (const f of frames) {
          if (f.opcode === 0x8) reject(new Error(`inspector closed the connection before answering ${method}`));
          else if (f.opcode === 0x9) socket.write(frame(f.payload, 0xa)); // ping: pong
          else if (f.opcode === 0x1 || f.opcode === 0x0) {
            message.push(f.payload);
            if (f.fin) {
              onMessage(Buffer.concat(message).toString('utf8'));
              message = [];
            }
          }
        }
      });
      socket.on('error', reject);
      socket.on('close', () => reject(new Error(`inspector closed before answering ${method}`)));
      socket.write(frame(Buffer.from(JSON.stringify({ id: 1, method, params }), 'utf8')));
    });
  } finally {
    socket.destroy();
  }
}
