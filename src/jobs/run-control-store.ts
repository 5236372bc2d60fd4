import type { QueryClient } from "./run-store.ts";

/**
 * The run statements an operator's request makes (cancelRun, pauseRun, resumeRun), beside the
 * worker's lifecycle in run-store.ts. Each runs under the run's row lock taken by the caller,
 * so it is serialised with the worker's batches and claims.
 */

/** A run as cancel locks it: who owns it, and whether that owner stopped heartbeating. */
export interface CancellableRun {
  status: string;
  job_id: string | null;
  worker_id: string | null;
  connected_system_id: string;
  stale: boolean;
}

/** Lock the run row for a cancel (FOR UPDATE: serialised with batches and claims). */
export async function lockRunForCancel(client: QueryClient, runId: string, staleAfterMs: number): Promise<CancellableRun | null> {
  const { rows } = await client.query<CancellableRun>(
    `SELECT status::text AS status, job_id, worker_id, connected_system_id,
            coalesce(heartbeat_at, created_at) < now() - make_interval(secs => $2::float8 / 1000) AS stale
       FROM run WHERE id = $1 FOR UPDATE`,
    [runId, staleAfterMs],
  );
  return rows[0] ?? null;
}

/** Cancel a run no worker owns: CANCELLED now, and any late write of a former owner is fenced off. */
export async function cancelRunNow(client: QueryClient, runId: string): Promise<void> {
  await client.query(
    `UPDATE run SET status = 'CANCELLED', cancel_requested_at = coalesce(cancel_requested_at, now()), finished_at = now(),
       phase = 'cancelled', worker_id = NULL WHERE id = $1`,
    [runId],
  );
}

/** Ask the owning worker to stop: it sees CANCELLING at its next batch or heartbeat and ends the run. */
export async function requestRunCancel(client: QueryClient, runId: string): Promise<void> {
  await client.query("UPDATE run SET status = 'CANCELLING', cancel_requested_at = now() WHERE id = $1", [runId]);
}

/** Ask the owning worker to pause the run at its next batch boundary (it stays RUNNING until then). */
export async function requestRunPause(client: QueryClient, runId: string): Promise<void> {
  await client.query("UPDATE run SET pause_requested_at = now() WHERE id = $1", [runId]);
}

/**
 * A paused run queued again under a new job; its next claim continues from the checkpoint. A
 * pause does not spend one of the run's recoveries: the claim it took is given back.
 */
export async function resumePausedRun(client: QueryClient, runId: string, jobId: string): Promise<boolean> {
  const { rowCount } = await client.query(
    `UPDATE run SET status = 'QUEUED', job_id = $2, max_attempts = max_attempts + 1, phase = 'queued', heartbeat_at = now()
      WHERE id = $1 AND status = 'PAUSED'`,
    [runId, jobId],
  );
  return rowCount === 1;
}
