/**
 * Connections per source: one source (an IPv4 address, or the /64 of an IPv6
 * address, as the rate limits count them) may hold at most `max_connections_per_source`
 * connections of a listener at once. A connection beyond it is closed as it is
 * accepted, before a byte of it is read (no TLS handshake, no parsing), so that slow
 * or idle clients from a few addresses cannot take every `max_connections` slot.
 * Memory: one counter per source that has a connection open.
 */
import type { Server } from 'node:net';
import type { Socket } from 'node:net';
import { addressBlock } from '../access/rate-limit.js';

export class ConnectionsPerSource {
  private readonly open = new Map<string, number>();

  constructor(
    private readonly limit: number,
    /** Told of each connection closed for its source (the source: an address or a /64). */
    private readonly onRefused: (source: string) => void,
  ) {}

  /** Count the connections `server` accepts, and close those over the limit. */
  watch(server: Server): void {
    // After node:http's (or node:tls's) own 'connection' listener: it has only set the
    // socket up, nothing is read before the next turn of the event loop.
    server.on('connection', (socket: Socket) => this.accepted(socket));
  }

  /** Connections open now from `address`'s source. */
  count(address: string | undefined): number {
    return this.open.get(addressBlock(address)) ?? 0;
  }

  private accepted(socket: Socket): void {
    const source = addressBlock(socket.remoteAddress);
    const n = this.open.get(source) ?? 0;
    if (n >= this.limit) {
      socket.destroy();
      this.onRefused(source);
      return;
    }
    this.open.set(source, n + 1);
    socket.once('close', () => {
      const left = (this.open.get(source) ?? 1) - 1;
      if (left === 0) this.open.delete(source);
      else this.open.set(source, left);
    });
  }
}
