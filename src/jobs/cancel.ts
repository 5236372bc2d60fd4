import type pg from "pg";
import { inTransaction } from "../db/transaction.ts";
import { RunEventType } from "../engine/run-events.ts";
import { conflict, notFound } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import { isFinalStatus } from "./operations.ts";
import { insertRunEvents, publishRunChanged } from "./progress.ts";
import type { RunQueue } from "./queue.ts";
import { cancelRunNow, lockRunForCancel, requestRunCancel } from "./run-control-store.ts";

export interface CancelDeps {
  pool: pg.Pool;
  bus: EventBus;
  queue: RunQueue;
  staleAfterMs: number;
}

/**
 * Cancel a run wherever it is. The row lock serialises with the worker's batches (a batch is
 * never half applied) and with claims (a queued run is never started after this commits).
 *  - queued (or handed back to the queue, no owner): CANCELLED now, its job removed;
 *  - running with a live heartbeat, here or in another worker: CANCELLING; the worker stops at
 *    its next batch boundary and writes CANCELLED;
 *  - orphaned (stale heartbeat): CANCELLED now;
 *  - finished: CONFLICT.
 * Returns the status the run has after the call.
 */
export async function cancelRun(deps: CancelDeps, runId: string): Promise<string> {
  return inTransaction(deps.pool, async (client) => {
    const run = await lockRunForCancel(client, runId, deps.staleAfterMs);
    if (!run) throw notFound("run", runId);
    if (isFinalStatus(run.status))
      throw conflict(`run ${runId} already finished with status ${run.status}; there is nothing to cancel`, {
        runId,
        status: run.status,
      });
    const ownerless = run.status === "QUEUED" || run.worker_id === null || run.stale;
    let status: string;
    if (ownerless) {
      if (run.job_id) await deps.queue.cancel(client, run.job_id);
      await cancelRunNow(client, runId);
      await insertRunEvents(client, runId, [{ type: RunEventType.completed, data: { status: "CANCELLED", from: run.status } }]);
      status = "CANCELLED";
    } else if (run.status === "RUNNING") {
      await requestRunCancel(client, runId);
      await insertRunEvents(client, runId, [{ type: RunEventType.cancelRequested, data: { workerId: run.worker_id } }]);
      status = "CANCELLING";
    } else {
      // Already CANCELLING with a live worker: asking again changes nothing.
      status = run.status;
    }
    if (status !== run.status)
      await publishRunChanged(deps.bus, { id: runId, connectedSystemId: run.connected_system_id, status }, client);
    return status;
  });
}
