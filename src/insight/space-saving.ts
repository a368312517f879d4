/**
 * The Space-Saving sketch (Metwally, Agrawal, El Abbadi, 2005): the most frequent
 * items of a stream in a fixed number of counters, whatever the number of distinct
 * items. Each counter holds an item, its count and its maximum overcount; an item
 * whose true count exceeds (total / capacity) is guaranteed to be present, and a
 * reported count is never below the true count nor above it by more than `error`.
 *
 * Counters live in a binary min-heap on count, so an update costs O(log capacity).
 */
export interface SketchEntry<T> {
  readonly item: T;
  /** Upper bound of the item's true count. */
  readonly count: number;
  /** How much of `count` may belong to items this counter held before. */
  readonly error: number;
}

interface Counter<T> {
  item: T;
  count: number;
  error: number;
  index: number;
}

export class SpaceSaving<T> {
  private readonly heap: Counter<T>[] = [];
  private readonly byItem = new Map<T, Counter<T>>();
  private total = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  /** Items seen so far (with repetition). */
  get observed(): number {
    return this.total;
  }

  /**
   * An upper bound of the count of any item not held by a counter: the smallest
   * count once every counter is in use (an evicted item had at most that), else 0.
   */
  get floor(): number {
    return this.heap.length < this.capacity ? 0 : this.heap[0]!.count;
  }

  /** Counters in use; never more than `capacity`. */
  get size(): number {
    return this.heap.length;
  }

  add(item: T, weight = 1): void {
    this.total += weight;
    const counter = this.byItem.get(item);
    if (counter !== undefined) {
      counter.count += weight;
      this.siftDown(counter.index);
      return;
    }
    if (this.heap.length < this.capacity) {
      const fresh: Counter<T> = { item, count: weight, error: 0, index: this.heap.length };
      this.heap.push(fresh);
      this.byItem.set(item, fresh);
      this.siftUp(fresh.index);
      return;
    }
    // Evict the smallest counter; the newcomer inherits its count as possible overcount.
    const min = this.heap[0]!;
    this.byItem.delete(min.item);
    min.item = item;
    min.error = min.count;
    min.count += weight;
    this.byItem.set(item, min);
    this.siftDown(0);
  }

  /** The `n` largest counters, largest first. */
  top(n: number): SketchEntry<T>[] {
    return [...this.heap]
      .sort((a, b) => b.count - a.count || a.error - b.error)
      .slice(0, n)
      .map(({ item, count, error }) => ({ item, count, error }));
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.count <= heap[i]!.count) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && heap[left]!.count < heap[smallest]!.count) smallest = left;
      if (right < heap.length && heap[right]!.count < heap[smallest]!.count) smallest = right;
      if (smallest === i) return;
      this.swap(i, smallest);
      i = smallest;
    }
  }

  private swap(a: number, b: number): void {
    const heap = this.heap;
    const ca = heap[a]!;
    const cb = heap[b]!;
    heap[a] = cb;
    heap[b] = ca;
    cb.index = a;
    ca.index = b;
  }
}
