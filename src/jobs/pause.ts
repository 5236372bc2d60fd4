import type pg from "pg";
import { inTransaction } from "../db/transaction.ts";
import { RunEventType } from "../engine/run-events.ts";
import { conflict, notFound } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import { insertRunEvents, publishRunChanged } from "./progress.ts";
import { requestRunPause } from "./run-control-store.ts";
import { lockRun } from "./run-store.ts";

export interface PauseDeps {
  pool: pg.Pool;
  bus: EventBus;
}

/**
 * Pause a running run: its worker stops at the next batch boundary (the batch in flight
 * commits whole) and the run becomes PAUSED with its checkpoint, still holding its scopes, until
 * resumeRun or cancelRun. Only a RUNNING run can be paused (a queued one can simply be
 * cancelled); asking again, or for a PAUSED run, changes nothing. Returns the run's status now
 * (RUNNING until the worker reaches the boundary).
 */
export async function pauseRun(deps: PauseDeps, runId: string): Promise<string> {
  return inTransaction(deps.pool, async (client) => {
    const run = await lockRun(client, runId);
    if (!run) throw notFound("run", runId);
    if (run.status === "PAUSED" || (run.status === "RUNNING" && run.pause_requested)) return run.status;
    if (run.status !== "RUNNING")
      throw conflict(`run ${runId} is ${run.status}; only a RUNNING run can be paused`, { runId, status: run.status });
    await requestRunPause(client, runId);
    await insertRunEvents(client, runId, [{ type: RunEventType.pauseRequested, data: { workerId: run.worker_id } }]);
    await publishRunChanged(deps.bus, { id: runId, connectedSystemId: run.connected_system_id, status: run.status }, client);
    return run.status;
  });
}
