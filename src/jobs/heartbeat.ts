import type pg from "pg";
import type { Logger } from "../logger.ts";
import { type Lease, touchHeartbeat } from "./run-store.ts";

export interface Heartbeat {
  stop(): void;
}

/**
 * Marks a run live every `intervalMs` (database time, so clocks of workers never matter) and
 * reports what it learns on the way: a requested cancel, or that the run was taken over.
 */
export function startHeartbeat(deps: {
  pool: pg.Pool;
  logger: Logger;
  lease: Lease;
  intervalMs: number;
  onCancelRequested(): void;
  onLeaseLost(): void;
  /** What a beat writes (default: the run's heartbeat); a partition beats its own row. */
  touch?: () => Promise<string | null>;
}): Heartbeat {
  const { lease } = deps;
  let stopped = false;
  let inFlight = false;
  const beat = async () => {
    if (stopped || inFlight) return;
    inFlight = true;
    try {
      const status = await (deps.touch ? deps.touch() : touchHeartbeat(deps.pool, lease));
      if (stopped) return;
      if (status === null) deps.onLeaseLost();
      else if (status === "CANCELLING") deps.onCancelRequested();
    } catch (err) {
      // A missed beat is harmless until the stale threshold; the next one retries.
      deps.logger.warn({ err, runId: lease.runId }, "heartbeat failed");
    } finally {
      inFlight = false;
    }
  };
  const timer = setInterval(() => void beat(), deps.intervalMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
