import type { PartitionRange, RunCounts } from "../engine/run-context.ts";
import { COUNT_COLUMNS, type QueryClient } from "./run-store.ts";

/**
 * Statements on run_partition: the slices of a partitioned run (src/jobs/partitions.ts). Like
 * a run, a partition is written only by the worker holding its lease (worker_id + attempt).
 */

export interface PartitionLease {
  runId: string;
  index: number;
  attempt: number;
  workerId: string;
}

export interface PartitionRow {
  index: number;
  after_id: string | null;
  to_id: string | null;
  size: number;
  status: string;
  attempt: number;
  checkpoint: unknown;
  processed: number;
  counts: Partial<RunCounts>;
}

const ROW = "index, after_id, to_id, size, status, attempt, checkpoint, processed, counts";

/** A partition's job: which one, and the run's pinned connection like a run's job. */
export interface NewPartitionJob {
  index: number;
  jobId: string;
}

/**
 * Record the ranges as QUEUED partitions, each with its job id; when the run already has
 * partitions (a resumed coordinator), give the QUEUED ones new job ids instead. Returns the jobs to send.
 */
export async function createOrRequeuePartitions(
  client: QueryClient,
  runId: string,
  ranges: PartitionRange[],
): Promise<NewPartitionJob[]> {
  const inserted = await client.query<{ index: number; job_id: string }>(
    `INSERT INTO run_partition (run_id, index, after_id, to_id, size, job_id)
     SELECT $1, r.i - 1, r.after_id, r.to_id, r.size, gen_random_uuid()::text
       FROM unnest($2::uuid[], $3::uuid[], $4::int[]) WITH ORDINALITY AS r(after_id, to_id, size, i)
      WHERE NOT EXISTS (SELECT 1 FROM run_partition WHERE run_id = $1)
     RETURNING index, job_id`,
    [runId, ranges.map((r) => r.afterId), ranges.map((r) => r.toId), ranges.map((r) => r.size)],
  );
  const rows = inserted.rowCount
    ? inserted.rows
    : (
        await client.query<{ index: number; job_id: string }>(
          `UPDATE run_partition SET job_id = gen_random_uuid()::text WHERE run_id = $1 AND status = 'QUEUED' RETURNING index, job_id`,
          [runId],
        )
      ).rows;
  // The run's total is every partition's objects; processed counts up as their batches commit.
  await client.query(
    `UPDATE run SET total = p.total, processed = p.processed, phase = 'syncing', progress_updated_at = clock_timestamp()
       FROM (SELECT sum(size)::int AS total, sum(processed)::int AS processed FROM run_partition WHERE run_id = $1) p
      WHERE id = $1`,
    [runId],
  );
  return rows.map((r) => ({ index: r.index, jobId: r.job_id }));
}

/**
 * Claim a QUEUED partition of a RUNNING run (not being paused): the one a job points at, or
 * (index null) the first free one, for the coordinator. Each claim is a new attempt.
 */
export async function claimPartition(
  client: QueryClient,
  claim: { runId: string; workerId: string; index: number | null; jobId?: string },
): Promise<PartitionRow | null> {
  const which =
    claim.index === null
      ? `p.index = (SELECT index FROM run_partition WHERE run_id = $1 AND status = 'QUEUED' ORDER BY index LIMIT 1 FOR UPDATE SKIP LOCKED)`
      : "p.index = $3 AND p.job_id = $4";
  const { rows } = await client.query<PartitionRow>(
    `UPDATE run_partition p SET status = 'RUNNING', worker_id = $2, attempt = attempt + 1, heartbeat_at = now(),
       started_at = coalesce(started_at, now())
      WHERE p.run_id = $1 AND p.status = 'QUEUED' AND ${which}
        AND EXISTS (SELECT 1 FROM run r WHERE r.id = $1 AND r.status = 'RUNNING' AND r.pause_requested_at IS NULL)
      RETURNING ${ROW}`,
    claim.index === null ? [claim.runId, claim.workerId] : [claim.runId, claim.workerId, claim.index, claim.jobId ?? null],
  );
  return rows[0] ?? null;
}

/** Lock the leased partition; null when the lease is lost (recovered elsewhere). */
export async function lockLeasedPartition(client: QueryClient, lease: PartitionLease): Promise<PartitionRow | null> {
  const { rows } = await client.query<PartitionRow>(
    `SELECT ${ROW} FROM run_partition WHERE run_id = $1 AND index = $2 AND attempt = $3 AND worker_id = $4 AND status = 'RUNNING' FOR UPDATE`,
    [lease.runId, lease.index, lease.attempt, lease.workerId],
  );
  return rows[0] ?? null;
}

/** A committed partition batch: its checkpoint, progress and counts (the sum so far). */
export async function recordPartitionBatch(
  client: QueryClient,
  lease: PartitionLease,
  batch: { checkpoint: unknown; processed: number; counts: Partial<RunCounts> },
): Promise<void> {
  await client.query(
    `UPDATE run_partition SET checkpoint = $3::jsonb, processed = $4, counts = $5::jsonb, heartbeat_at = now()
      WHERE run_id = $1 AND index = $2`,
    [lease.runId, lease.index, JSON.stringify(batch.checkpoint ?? null), batch.processed, JSON.stringify(batch.counts)],
  );
}

/**
 * Add a partition batch's counts and progress to its run: the last statement of the batch, so
 * the run row is locked only for the commit (partitions' batches otherwise run side by side).
 * Only while the run is RUNNING and not asked to pause: otherwise nothing is returned and the
 * caller rolls the batch back (a cancel or pause that committed first wins). Progress is stamped
 * when written (clock_timestamp()), not when the batch's transaction began (now()).
 */
export async function addPartitionBatchToRun(
  client: QueryClient,
  runId: string,
  counts: Partial<RunCounts>,
  processed: number,
): Promise<{ batch: number; connected_system_id: string; status: string } | null> {
  const sets = COUNT_COLUMNS.map(([, column], i) => `${column} = ${column} + $${i + 2}`).join(", ");
  const { rows } = await client.query<{ batch: number; connected_system_id: string; status: string }>(
    `UPDATE run SET ${sets}, processed = processed + $9, batch = batch + 1, progress_updated_at = clock_timestamp()
      WHERE id = $1 AND status = 'RUNNING' AND pause_requested_at IS NULL
      RETURNING batch, connected_system_id, status::text AS status`,
    [runId, ...COUNT_COLUMNS.map(([key]) => Math.trunc(counts[key] ?? 0)), Math.trunc(processed)],
  );
  return rows[0] ?? null;
}

/** Mark the leased partition live; returns its run's status, or null when the lease is lost. */
export async function touchPartition(client: QueryClient, lease: PartitionLease): Promise<string | null> {
  const { rows } = await client.query<{ status: string }>(
    `UPDATE run_partition p SET heartbeat_at = now() FROM run r
      WHERE p.run_id = $1 AND p.index = $2 AND p.attempt = $3 AND p.worker_id = $4 AND p.status = 'RUNNING' AND r.id = p.run_id
      RETURNING r.status::text AS status`,
    [lease.runId, lease.index, lease.attempt, lease.workerId],
  );
  return rows[0]?.status ?? null;
}

/**
 * End the leased partition: COMPLETED, FAILED (with its error) or CANCELLED keep the worker's id;
 * QUEUED (handed back: pause or shutdown) clears it and, with a job id, points at a new job.
 */
export async function endPartition(
  client: QueryClient,
  lease: PartitionLease,
  ending: { status: "COMPLETED" | "FAILED" | "CANCELLED" | "QUEUED"; error?: string; jobId?: string },
): Promise<boolean> {
  const { rowCount } = await client.query(
    `UPDATE run_partition SET status = $5, error = $6, heartbeat_at = now(),
       finished_at = CASE WHEN $5 = 'QUEUED' THEN NULL ELSE now() END,
       worker_id = CASE WHEN $5 = 'QUEUED' THEN NULL ELSE worker_id END,
       job_id = coalesce($7, job_id)
      WHERE run_id = $1 AND index = $2 AND attempt = $3 AND worker_id = $4 AND status = 'RUNNING'`,
    [lease.runId, lease.index, lease.attempt, lease.workerId, ending.status, ending.error ?? null, ending.jobId ?? null],
  );
  return rowCount === 1;
}

/**
 * Partitions whose worker stopped heartbeating: back to QUEUED with a new job (resumed from their
 * checkpoint by whoever claims it), or FAILED once they were started `maxAttempts` times.
 */
export async function requeueStalePartitions(
  client: QueryClient,
  runId: string,
  staleAfterMs: number,
  maxAttempts: number,
): Promise<NewPartitionJob[]> {
  await client.query(
    `UPDATE run_partition SET status = 'FAILED', finished_at = now(),
       error = 'its worker stopped ' || attempt || ' times; it is not resumed again'
      WHERE run_id = $1 AND status = 'RUNNING' AND attempt >= $3
        AND heartbeat_at < now() - make_interval(secs => $2::float8 / 1000)`,
    [runId, staleAfterMs, maxAttempts],
  );
  const { rows } = await client.query<{ index: number; job_id: string }>(
    `UPDATE run_partition SET status = 'QUEUED', worker_id = NULL, job_id = gen_random_uuid()::text
      WHERE run_id = $1 AND status = 'RUNNING' AND heartbeat_at < now() - make_interval(secs => $2::float8 / 1000)
      RETURNING index, job_id`,
    [runId, staleAfterMs],
  );
  return rows.map((r) => ({ index: r.index, jobId: r.job_id }));
}

/** How far the run's partitions are: counts by status, the first failure, objects processed. */
export async function partitionProgress(client: QueryClient, runId: string) {
  const { rows } = await client.query<{ status: string; n: number; processed: number; error: string | null }>(
    `SELECT status, count(*)::int AS n, sum(processed)::int AS processed, min(error) AS error
       FROM run_partition WHERE run_id = $1 GROUP BY status`,
    [runId],
  );
  const n = (status: string) => rows.find((r) => r.status === status)?.n ?? 0;
  return {
    total: rows.reduce((sum, r) => sum + r.n, 0),
    completed: n("COMPLETED"),
    failed: rows.find((r) => r.status === "FAILED") ?? null,
    processed: rows.reduce((sum, r) => sum + r.processed, 0),
  };
}

/** A finished run's partitions nobody claimed end with it, and its key claims go (src/engine/sync/concurrent.ts). */
export async function endPartitionedRun(client: QueryClient, runId: string): Promise<void> {
  await client.query(
    "UPDATE run_partition SET status = 'CANCELLED', finished_at = now() WHERE run_id = $1 AND status = 'QUEUED'",
    [runId],
  );
  await client.query("DELETE FROM sync_key_claim WHERE run_id = $1", [runId]);
}
