/**
 * FirkinStore: an express-session store on Firkin, with connect-redis's option
 * names and meanings. A session lives under `prefix + session ID` for as long as
 * its cookie (else `ttl`, else the namespace's default TTL on the server); an
 * unmodified session is kept alive with Firkin's touch, which sends no value.
 *
 * `all`, `length`, `ids` and `clear` are absent on purpose: Firkin never
 * enumerates keys (express-session needs none of them).
 */
import session from 'express-session';
import type { SessionData } from 'express-session';

export interface Serializer {
  parse(text: string): SessionData | Promise<SessionData>;
  stringify(data: SessionData): string;
}

/**
 * What the store uses of a FirkinClient (firkin-client's), by shape rather than by
 * class: a FirkinClient from any copy of firkin-client fits (a class with private
 * fields would only accept the copy connect-firkin was compiled against), and so
 * does a test double.
 */
export interface FirkinStoreClient {
  get(key: string): Promise<{ readonly value: Buffer } | undefined>;
  set(key: string, value: string, options: { ttl?: number }): Promise<unknown>;
  touch(key: string, options: { ttl?: number }): Promise<unknown>;
  delete(key: string): Promise<unknown>;
}

export interface FirkinStoreOptions {
  /** The client of the Firkin namespace that holds the sessions (a FirkinClient). */
  readonly client: FirkinStoreClient;
  /** Prepended to every session ID to make its key (default `sess:`). */
  readonly prefix?: string;
  /**
   * Seconds a session lives when its cookie has no expiry (a browser-session cookie);
   * a function of the session decides for every session instead. Default: the
   * namespace's default TTL (no TTL is sent).
   */
  readonly ttl?: number | ((data: SessionData) => number);
  /** Make touch a no-op: an unmodified session then expires its TTL after its last change. */
  readonly disableTouch?: boolean;
  /** How sessions become stored text and back (default JSON). */
  readonly serializer?: Serializer;
}

type Callback = (err?: unknown) => void;
type GetCallback = (err: unknown, data?: SessionData | null) => void;

export class FirkinStore extends session.Store {
  readonly client: FirkinStoreClient;
  readonly prefix: string;
  readonly ttl: number | ((data: SessionData) => number) | undefined;
  readonly disableTouch: boolean;
  readonly serializer: Serializer;

  constructor(options: FirkinStoreOptions) {
    super();
    this.client = options.client;
    this.prefix = options.prefix ?? 'sess:';
    this.ttl = options.ttl;
    this.disableTouch = options.disableTouch ?? false;
    this.serializer = options.serializer ?? JSON;
  }

  override get(sid: string, callback: GetCallback): void {
    void settle(callback, async () => {
      const entry = await this.client.get(this.prefix + sid);
      return entry === undefined ? null : await this.serializer.parse(entry.value.toString('utf8'));
    });
  }

  override set(sid: string, data: SessionData, callback: Callback = noop): void {
    void settle(callback, async () => {
      const ttl = this.#ttlOf(data);
      // A session whose cookie has already expired is not stored, and an older copy goes (as connect-redis).
      if (ttl !== undefined && ttl <= 0) return this.client.delete(this.prefix + sid);
      await this.client.set(this.prefix + sid, this.serializer.stringify(data), ttl === undefined ? {} : { ttl });
    });
  }

  override touch(sid: string, data: SessionData, callback: Callback = noop): void {
    if (this.disableTouch) return void callback();
    void settle(callback, async () => {
      const ttl = this.#ttlOf(data);
      if (ttl !== undefined && ttl <= 0) return this.client.delete(this.prefix + sid);
      // false: the session expired meanwhile; express-session has nothing to do about it.
      await this.client.touch(this.prefix + sid, ttl === undefined ? {} : { ttl });
    });
  }

  override destroy(sid: string, callback: Callback = noop): void {
    void settle(callback, () => this.client.delete(this.prefix + sid));
  }

  /** Seconds the session should live from now: `ttl` if a function, else the cookie's expiry, else `ttl`, else undefined (the server's default). */
  #ttlOf(data: SessionData): number | undefined {
    // Whole seconds, as Firkin takes them: a fraction rounds up (never to a shorter life, nor to 0 and a delete).
    if (typeof this.ttl === 'function') return Math.ceil(this.ttl(data));
    const expires = data.cookie?.expires;
    if (expires !== undefined && expires !== null) {
      return Math.ceil((new Date(expires).getTime() - Date.now()) / 1000);
    }
    return this.ttl === undefined ? undefined : Math.ceil(this.ttl);
  }
}

const noop: Callback = () => {};

/** Run `work` and hand its result or error to an express-session callback (called exactly once, outside the promise chain). */
async function settle<T>(callback: (err: unknown, result?: T) => void, work: () => Promise<T>): Promise<void> {
  let outcome: [unknown, T?];
  try {
    outcome = [null, await work()];
  } catch (err) {
    outcome = [err];
  }
  // A callback that throws is the application's bug: reported as an uncaught exception, not a rejected promise.
  queueMicrotask(() => callback(...outcome));
}
