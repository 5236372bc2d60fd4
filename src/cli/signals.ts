/** Resolves on SIGINT or SIGTERM (or when the parent of a forked worker goes away): the foreground commands' end. */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
    // A worker started by `serve` stops with it, however the server ended (its IPC channel closes).
    if (process.send) process.once("disconnect", () => resolve());
  });
}
