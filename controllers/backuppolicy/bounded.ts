// Bounded concurrency with the verdict of one-at-a-time: used where a
// backup or restore makes many small requests (1,000 objects one after
// another took seconds) but must report exactly what a sequential run would.

export type InOrderOptions<T> = {
  /** At most one such item runs at a time (e.g. a model file of GiBs among small objects). */
  exclusive?: (item: T) => boolean;
};

/**
 * `work` over `items`, started in order, at most `limit` at once; results
 * in item order. Once one fails no new work starts; when everything started
 * has settled, the failure of the first item (in item order) that failed is
 * thrown: every item before it was started, so that is the failure a
 * one-at-a-time run would have thrown (given the same outcomes per item).
 */
export async function inOrder<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
  options: InOrderOptions<T> = {},
): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be >= 1');
  const results: R[] = new Array<R>(items.length);
  const failures = new Map<number, unknown>();
  let exclusiveRunning: Promise<unknown> | undefined;
  let next = 0;
  const worker = async () => {
    while (next < items.length && failures.size === 0) {
      const i = next++;
      const item = items[i] as T;
      const exclusive = options.exclusive?.(item) ?? false;
      // continuations run one at a time: the first to see it cleared claims it before the next looks
      if (exclusive) while (exclusiveRunning) await exclusiveRunning;
      const running = work(item, i).then(
        (r) => void (results[i] = r),
        (error: unknown) => void failures.set(i, error),
      );
      if (exclusive) exclusiveRunning = running.finally(() => (exclusiveRunning = undefined));
      await running;
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.size > 0) throw failures.get(Math.min(...failures.keys()));
  return results;
}
