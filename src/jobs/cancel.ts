import type pg from "pg";
import { inTransaction } from "../db/transaction.ts";
import { conflict, notFound } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import { isFinalStatus } from "./operations.ts";
import { insertRunEvents, publishRunChanged, RunEventType } from "./progress.ts";
import type { RunQueue } from "./queue.ts";

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
    const { rows } = await client.query<{
      status: string;
      job_id: string | null;
      worker_id: string | null;
      connected_system_id: string;
      stale: boolean;
    }>(
      `SELECT status::text AS status, job_id, worker_id, connected_system_id,
              coalesce(heartbeat_at, created_at) < now() - make_interval(secs => $2::float8 / 1000) AS stale
         FROM run WHERE id = $1 FOR UPDATE`,
      [runId, deps.staleAfterMs],
    );
    const run = rows[0];
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
      await client.query(
        `UPDATE run SET status = 'CANCELLED', cancel_requested_at = coalesce(cancel_requested_at, now()), finished_at = now(),
           phase = 'cancelled', worker_id = NULL WHERE id = $1`,
        [runId],
      );
      await insertRunEvents(client, runId, [{ type: RunEventType.completed, data: { status: "CANCELLED", from: run.status } }]);
      status = "CANCELLED";
    } else if (run.status === "RUNNING") {
      await client.query("UPDATE run SET status = 'CANCELLING', cancel_requested_at = now() WHERE id = $1", [runId]);
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
