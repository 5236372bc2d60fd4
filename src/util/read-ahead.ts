/**
 * Iterate `source` one element ahead: while the consumer works on an element (e.g. waits for
 * the database to write it), the next one is already being fetched and `prepare`d. On two
 * cores this overlaps the connector's reading and the engine's hashing with PostgreSQL's work
 * instead of alternating with it. At most two elements are held at a time.
 */
export async function* readAhead<T, U>(source: AsyncIterable<T>, prepare: (item: T) => U | Promise<U>): AsyncGenerator<U> {
  const iterator = source[Symbol.asyncIterator]();
  const pull = async (): Promise<{ value: U } | null> => {
    const r = await iterator.next();
    return r.done ? null : { value: await prepare(r.value) };
  };
  let next = pull();
  try {
    for (;;) {
      const current = await next;
      if (!current) return;
      next = pull();
      // Surfaced by the next `await next`; never an unhandled rejection if the consumer stops first.
      next.catch(() => {});
      yield current.value;
    }
  } finally {
    // The consumer stopped early (error, cancel) or the source ended: close the source once the
    // in-flight read settles, without making the consumer wait for a slow connector.
    void next
      .then(
        () => iterator.return?.(),
        () => iterator.return?.(),
      )
      .catch(() => {});
  }
}
