import { randomUUID } from "node:crypto";
import type pg from "pg";
import { inTransaction } from "../db/transaction.ts";
import type { EventBus } from "../events/bus.ts";
import type { Logger } from "../logger.ts";
import { insertRunEvents, publishRunChanged, RUNS_QUEUED_TOPIC, RunEventType } from "./progress.ts";
import type { RunQueue } from "./queue.ts";

export interface RecoveryDeps {
  pool: pg.Pool;
  bus: EventBus;
  queue: RunQueue;
  logger: Logger;
}

interface OrphanRow {
  id: string;
  status: string;
  attempt: number;
  max_attempts: number;
  job_id: string | null;
  worker_id: string | null;
  connected_system_id: string;
  connection_settings_id: string;
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
    // SKIP LOCKED: a row locked by an in-flight batch is alive by definition, and two
    // recovering workers never take the same run.
    const { rows } = await client.query<OrphanRow>(
      `SELECT id, status::text AS status, attempt, max_attempts, job_id, worker_id, connected_system_id, connection_settings_id
         FROM run
        WHERE status IN ('RUNNING', 'CANCELLING')
          AND coalesce(heartbeat_at, created_at) < now() - make_interval(secs => $1::float8 / 1000)
        ORDER BY heartbeat_at LIMIT 20
        FOR UPDATE SKIP LOCKED`,
      [staleAfterMs],
    );
    for (const orphan of rows) {
      await recoverOne(deps, client, orphan);
      acted++;
    }
  });
  return acted;
}

async function recoverOne(deps: RecoveryDeps, client: pg.PoolClient, orphan: OrphanRow) {
  if (orphan.job_id) await deps.queue.cancel(client, orphan.job_id);
  if (orphan.status === "CANCELLING") {
    await finishOrphan(deps, client, orphan, "CANCELLED", null, null);
    return;
  }
  if (orphan.attempt >= orphan.max_attempts) {
    const reason = `The run's worker stopped ${orphan.attempt} times; it is not resumed again.`;
    await finishOrphan(deps, client, orphan, "FAILED", "WORKER_LOST", reason);
    return;
  }
  await requeueRun(deps, client, orphan, {
    previousWorkerId: orphan.worker_id,
    attempt: orphan.attempt,
    reason: "stale heartbeat",
  });
}

/** Give a run a new job; its next claim resumes from the stored checkpoint. */
export async function requeueRun(
  deps: Pick<RecoveryDeps, "bus" | "queue">,
  client: pg.PoolClient,
  run: Pick<OrphanRow, "id" | "connected_system_id" | "connection_settings_id" | "status">,
  why: Record<string, unknown>,
): Promise<void> {
  const jobId = randomUUID();
  // heartbeat_at = now(): a grace period, so the run is not recovered again before a worker claims it.
  await client.query("UPDATE run SET job_id = $2, worker_id = NULL, heartbeat_at = now() WHERE id = $1", [run.id, jobId]);
  await deps.queue.send(client, jobId, { runId: run.id, connectionSettingsId: run.connection_settings_id });
  await insertRunEvents(client, run.id, [{ type: RunEventType.recovered, data: why }]);
  await publishRunChanged(deps.bus, { id: run.id, connectedSystemId: run.connected_system_id, status: run.status }, client);
  await deps.bus.publish(RUNS_QUEUED_TOPIC, { runId: run.id }, client);
}

async function finishOrphan(
  deps: RecoveryDeps,
  client: pg.PoolClient,
  orphan: OrphanRow,
  status: "CANCELLED" | "FAILED",
  reasonCode: string | null,
  reason: string | null,
) {
  await client.query(
    `UPDATE run SET status = $2::run_status, finished_at = now(), phase = $5, reason_code = $3, reason = $4,
       error = coalesce($4, error), worker_id = NULL WHERE id = $1`,
    [orphan.id, status, reasonCode, reason, status.toLowerCase()],
  );
  await insertRunEvents(client, orphan.id, [{ type: RunEventType.completed, data: { status, reasonCode, orphaned: true } }]);
  await publishRunChanged(deps.bus, { id: orphan.id, connectedSystemId: orphan.connected_system_id, status }, client);
}
