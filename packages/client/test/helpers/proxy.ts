/**
 * A TCP relay in front of a server that counts connections: how many the client
 * opened, how many are open now, and which side closed each first. The bytes pass
 * through untouched (TLS too).
 */
import net from 'node:net';
import { after } from 'node:test';

export interface CountingProxy {
  /** scheme://127.0.0.1:port of the relay, for a server at `origin`. */
  readonly origin: string;
  /** Connections the client opened so far. */
  readonly opened: number;
  /** Connections open now. */
  readonly open: number;
  /** Most connections open at once. */
  readonly peak: number;
  /** Connections the client closed first (its FIN or reset before the server's). */
  readonly closedByClient: number;
  /** Connections the server closed first. */
  readonly closedByServer: number;
  /** Resolves once no connection is open (or rejects after `withinMs`). */
  drained(withinMs: number): Promise<void>;
}

export async function countingProxy(origin: string): Promise<CountingProxy> {
  const target = new URL(origin);
  const stats = { opened: 0, open: 0, peak: 0, closedByClient: 0, closedByServer: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    stats.opened++;
    stats.open++;
    stats.peak = Math.max(stats.peak, stats.open);
    let first: 'client' | 'server' | undefined;
    const upstream = net.connect(Number(target.port), target.hostname.replace(/^\[|\]$/g, ''));
    sockets.add(client).add(upstream);
    const closed = (side: 'client' | 'server') => (): void => {
      if (first !== undefined) return;
      first = side;
      if (side === 'client') stats.closedByClient++;
      else stats.closedByServer++;
    };
    client.on('end', closed('client'));
    client.on('error', closed('client'));
    upstream.on('end', closed('server'));
    upstream.on('error', closed('server'));
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    let counted = false;
    const gone = (): void => {
      if (counted) return;
      counted = true;
      stats.open--;
    };
    client.on('close', gone);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    origin: `${target.protocol}//127.0.0.1:${port}`,
    get opened() {
      return stats.opened;
    },
    get open() {
      return stats.open;
    },
    get peak() {
      return stats.peak;
    },
    get closedByClient() {
      return stats.closedByClient;
    },
    get closedByServer() {
      return stats.closedByServer;
    },
    async drained(withinMs) {
      const until = Date.now() + withinMs;
      while (stats.open > 0) {
        if (Date.now() > until) throw new Error(`${stats.open} connections still open after ${withinMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}
