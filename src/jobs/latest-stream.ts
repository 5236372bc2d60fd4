/**
 * One subscriber's stream of rows that keeps only the newest row per id while the subscriber is
 * busy: a slow reader gets the latest state of each run, never a backlog. Rows come in through
 * `deliver` (called by the fan-out, never awaited), leave through `next`.
 *
 * Hand-written rather than a generic push iterator: the fan-out calls `deliver` for every
 * subscriber of a run on every message, and a generic one's per-push promise and bookkeeping was
 * the largest cost of the fan-out after the socket writes themselves. Here a delivery to a
 * waiting reader is one resolve; to a busy one, one Map write.
 */
export interface LatestStream<T> extends AsyncIterableIterator<T> {
  deliver(row: T): void;
  /** Ends the stream: a pending `next` and every later one answer done. */
  end(): void;
}

export function latestStream<T extends { id: string }>(endsWith: (row: T) => boolean, onEnd: () => void): LatestStream<T> {
  const waiting = new Map<string, T>();
  let reader: ((result: IteratorResult<T>) => void) | null = null;
  // Set when the row that ends the stream has been queued: the stream ends once it is read.
  let last = false;
  let ended = false;
  const done: IteratorResult<T> = { done: true, value: undefined };

  const end = () => {
    if (ended) return;
    ended = true;
    waiting.clear();
    onEnd();
    const r = reader;
    reader = null;
    r?.(done);
  };

  const stream: LatestStream<T> = {
    [Symbol.asyncIterator]: () => stream,
    deliver(row) {
      if (ended || last) return;
      if (endsWith(row)) last = true;
      if (reader) {
        const r = reader;
        reader = null;
        r({ done: false, value: row });
        return;
      }
      waiting.delete(row.id); // re-inserted last: runs keep the order of their newest change
      waiting.set(row.id, row);
    },
    end,
    next() {
      const first = waiting.values().next();
      if (!first.done) {
        waiting.delete(first.value.id);
        return Promise.resolve({ done: false, value: first.value });
      }
      if (ended || last) {
        end();
        return Promise.resolve(done);
      }
      return new Promise<IteratorResult<T>>((resolve) => {
        reader = resolve;
      });
    },
    return() {
      end();
      return Promise.resolve(done);
    },
    throw(error?: unknown) {
      end();
      return Promise.reject(error);
    },
  };
  return stream;
}
