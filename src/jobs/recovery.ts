import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { AlertRaiser } from "../alerts/raise.ts";
import { inTransaction } from "../db/transaction.ts";
import { RunEventType } from "../engine/run-events.ts";
import type { EventBus } from "../events/bus.ts";
import type { Logger } from "../logger.ts";
import { insertRunEvents, publishRunChanged, RUNS_QUEUED_TOPIC } from "./progress.ts";
import { priorityOf, type RunQueue } from "./queue.ts";
import { finishOrphanedRun, lockOrphanedRuns, type OrphanedRun, requeueRun } from "./run-store.ts";

/** Orphans handled per pass: a short transaction; the next pass takes the rest. */
const RECOVERY_BATCH = 20;

export interface RecoveryDeps {
  pool: pg.Pool;
  bus: EventBus;
  queue: RunQueue;
  logger: Logger;
  /** Raises RUN_STALE for each silent worker found, and the ending's alerts of a run given up. */
  alerts?: AlertRaiser;
}

/**
 * Finds runs whose worker stopped heartbeating (killed, partitioned) and hands them to another
 * worker: a new job for the same run, which resumes from the checkpoint of its last committed
 * batch. The old owner is fenced off (worker_id cleared), so even a worker that was only slow
 * cannot commit another batch. Orphans that were being cancelled end CANCELLED; a run that
 * exhausted its attempts ends FAILED (WORKER_LOST). Returns how many runs it acted on.
 */
export async function recoverOrphanedRuns(deps: RecoveryDeps, staleAfterMs: number): Promise<number> {
  let acted = 0;
  await inTransaction(deps.pool, async (client) => {
    for (const orphan of await lockOrphanedRuns(client, staleAfterMs, RECOVERY_BATCH)) {
      await recoverOne(deps, client, orphan);
      acted++;
    }
  });
  return acted;
}

async function recoverOne(deps: RecoveryDeps, client: pg.PoolClient, orphan: OrphanedRun) {
  if (orphan.job_id) await deps.queue.cancel(client, orphan.job_id);
  await deps.alerts?.forStaleRun(client, orphan.id, { attempt: orphan.attempt, workerId: orphan.worker_id });
  if (orphan.status === "CANCELLING") {
    await finishOrphan(deps, client, orphan, "CANCELLED", null, null);
    return;
  }
  if (orphan.attempt >= orphan.max_attempts) {
    const reason = `The run's worker stopped ${orphan.attempt} times; it is not resumed again.`;
    await finishOrphan(deps, client, orphan, "FAILED", "WORKER_LOST", reason);
    return;
  }
  await resubmitRun(deps, client, orphan, {
    previousWorkerId: orphan.worker_id,
    attempt: orphan.attempt,
    reason: "stale heartbeat",
  });
}

/** Give a run a new job; its next claim resumes from the stored checkpoint. */
export async function resubmitRun(
  deps: Pick<RecoveryDeps, "bus" | "queue">,
  client: pg.PoolClient,
  run: Pick<OrphanedRun, "id" | "connected_system_id" | "connection_settings_id" | "status" | "trigger">,
  why: Record<string, unknown>,
): Promise<void> {
  const jobId = randomUUID();
  await requeueRun(client, run.id, jobId);
  await deps.queue.send(
    client,
    jobId,
    { runId: run.id, connectionSettingsId: run.connection_settings_id },
    priorityOf(run.trigger),
  );
  await insertRunEvents(client, run.id, [{ type: RunEventType.recovered, data: why }]);
  await publishRunChanged(deps.bus, { id: run.id, connectedSystemId: run.connected_system_id, status: run.status }, client);
  await deps.bus.publish(RUNS_QUEUED_TOPIC, { runId: run.id }, client);
}

async function finishOrphan(
  deps: RecoveryDeps,
  client: pg.PoolClient,
  orphan: OrphanedRun,
  status: "CANCELLED" | "FAILED",
  reasonCode: string | null,
  reason: string | null,
) {
  await finishOrphanedRun(client, orphan.id, { status, reasonCode, reason });
  await insertRunEvents(client, orphan.id, [{ type: RunEventType.completed, data: { status, reasonCode, orphaned: true } }]);
  await deps.alerts?.forRunEnd(client, orphan.id);
  await publishRunChanged(deps.bus, { id: orphan.id, connectedSystemId: orphan.connected_system_id, status }, client);
}
