/**
 * Settle with `work`, or with `onTimeout()` once `ms` have passed (rejecting when it throws),
 * whichever comes first; the timer never outlives the race. `work` itself is not cancelled: a
 * caller that must stop it closes what it runs on. `unref`: the timer alone does not keep the
 * process alive.
 */
export function withTimeout<T, U = never>(
  work: Promise<T>,
  ms: number,
  onTimeout: () => U,
  options: { unref?: boolean } = {},
): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<U>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (e) {
        reject(e);
      }
    }, ms);
    if (options.unref) timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
