/**
 * A value computed at most once per `maxAgeMs`: callers while a computation runs
 * share it, and callers within `maxAgeMs` of its completion get its result. A
 * failed computation is not kept. /metrics goes through one of these, so any
 * number of overlapping scrapes costs one collection.
 */
export function snapshot<T>(maxAgeMs: number, compute: () => Promise<T>, now: () => number = () => performance.now()): () => Promise<T> {
  let pending: Promise<T> | undefined;
  let done: { readonly at: number; readonly value: T } | undefined;
  return () => {
    if (pending !== undefined) return pending;
    if (done !== undefined && now() - done.at < maxAgeMs) return Promise.resolve(done.value);
    const p = compute().then(
      (value) => {
        done = { at: now(), value };
        pending = undefined;
        return value;
      },
      (err: unknown) => {
        pending = undefined;
        throw err;
      },
    );
    pending = p;
    return p;
  };
}
