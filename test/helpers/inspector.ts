/**
 * A full garbage collection in another Node.js process, through its inspector
 * (started with `--inspect=127.0.0.1:0`), so a memory measurement compares live data
 * rather than wherever V8's collection cycle happened to be. One DevTools-protocol
 * command over Node's own WebSocket client (a global since Node.js 22).
 */

/** The inspector's WebSocket URL from a process's stderr, once it has printed it. */
export function inspectorUrl(stderr: string): string | undefined {
  return /Debugger listening on (ws:\/\/\S+)/.exec(stderr)?.[1];
}

/** Send one DevTools-protocol command and resolve with its result (reject after `timeoutMs`). */
export async function inspectorCommand(url: string, method: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<unknown> {
  const socket = new WebSocket(url);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`inspector did not answer ${method} within ${timeoutMs} ms`)), timeoutMs);
      socket.addEventListener('open', () => socket.send(JSON.stringify({ id: 1, method, params })));
      socket.addEventListener('message', (event) => {
        let parsed: { id?: number; result?: unknown; error?: { message: string } };
        try {
          parsed = JSON.parse(String(event.data)) as typeof parsed;
        } catch {
          reject(new Error(`inspector sent a message that is not JSON: ${String(event.data).slice(0, 80)}`));
          return;
        }
        if (parsed.id !== 1) return; // an event, not our answer
        if (parsed.error) reject(new Error(`${method}: ${parsed.error.message}`));
        else resolve(parsed.result);
      });
      socket.addEventListener('error', () => reject(new Error(`inspector connection failed before answering ${method}`)));
      socket.addEventListener('close', () => reject(new Error(`inspector closed before answering ${method}`)));
    });
  } finally {
    clearTimeout(timer);
    socket.close();
  }
}
