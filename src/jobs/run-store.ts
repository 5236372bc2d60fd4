import type pg from "pg";
import type { BatchOutcome, RunCounts, RunInfo } from "../engine/run-context.ts";
import { RunEventType } from "../engine/run-events.ts";
import { ACTIVE_STATUSES, type OperationType } from "./operations.ts";
import { type RUN_CHANGED_NOTIFIED, runChangedNotifySql } from "./progress.ts";
import type { FinalRunState } from "./run-status.ts";

/**
 * Every statement of the run lifecycle on the `run` table, as named operations: start (insert),
 * claim, heartbeat, batch, pause at a boundary, recovery, finish (an operator's cancel, pause and
 * resume are in run-control-store.ts, metrics reads in run-metrics-store.ts). Each takes the query client, so a caller
 * that must hold advisory locks, a row lock or a pg-boss send in the same transaction passes
 * its transaction's client; everyone else passes the pool.
 *
 * Fencing: a worker writes a run only while it holds the lease (its id in worker_id, the claim's
 * attempt). Recovery and cancel clear worker_id, which silently turns every later fenced write
 * of the old owner into a no-op.
 */

/** A pool or one transaction's client. */
export type QueryClient = Pick<pg.PoolClient, "query">;

/** Who may write a run: the worker that claimed it, for that claim (attempt) only. */
export interface Lease {
  runId: string;
  attempt: number;
  workerId: string;
}

/** A run as the start gate writes it: QUEUED with its job, or BLOCKED by preflight (already final). */
export interface NewRun {
  id: string;
  operation: OperationType;
  profile: RunInfo["profile"];
  connectedSystemId: string;
  connectionSettingsId: string;
  scopeKey: string;
  scopes: string[];
  dryRun: boolean;
  trigger: string;
  scheduleId: string | null;
  /** Claims executed + recoveries allowed (a BLOCKED run never runs; it records the budget all the same). */
  maxAttempts: number;
  start: { status: "QUEUED"; jobId: string } | { status: "BLOCKED"; reasonCode: string; reason: string; nextSteps: string[] };
}

/** Insert a new run. The phase is the status in lower case; a BLOCKED run is finished at once. */
export async function insertRun(client: QueryClient, run: NewRun): Promise<void> {
  const { start } = run;
  const blocked = start.status === "BLOCKED" ? start : null;
  await client.query(
    `INSERT INTO run (id, operation, profile, connected_system_id, connection_settings_id, scope_key, scopes, status,
       dry_run, trigger, schedule_id, job_id, max_attempts, reason_code, reason, next_steps, phase, finished_at)
     VALUES ($1, $2, $3::run_profile, $4, $5, $6, $7, $8::run_status, $9, $10, $11, $12, $13, $14, $15, $16, $17,
       CASE WHEN $18::boolean THEN now() END)`,
    [
      run.id,
      run.operation,
      run.profile,
      run.connectedSystemId,
      run.connectionSettingsId,
      run.scopeKey,
      run.scopes,
      start.status,
      run.dryRun,
      run.trigger,
      run.scheduleId,
      start.status === "QUEUED" ? start.jobId : null,
      run.maxAttempts,
      blocked?.reasonCode ?? null,
      blocked?.reason ?? null,
      blocked?.nextSteps ?? [],
      start.status.toLowerCase(),
      blocked !== null,
    ],
  );
}

/** An active (QUEUED, RUNNING, CANCELLING, PAUSED) run, as the start gate reports it. */
export interface ActiveRun {
  id: string;
  operation: OperationType;
  status: string;
  connectedSystemId: string;
  systemName: string;
  scopes: string[];
}

/** The oldest active run with this dedupe key. */
export function findActiveRunByKey(client: QueryClient, scopeKey: string): Promise<ActiveRun | null> {
  return findActiveRun(client, "r.scope_key = $1", [scopeKey]);
}

/** The oldest active run holding any of these scopes. */
export function findActiveRunHolding(client: QueryClient, scopes: string[]): Promise<ActiveRun | null> {
  return findActiveRun(client, "r.scopes && $1::text[]", [scopes]);
}

async function findActiveRun(client: QueryClient, where: string, params: unknown[]): Promise<ActiveRun | null> {
  const { rows } = await client.query<ActiveRun>(
    `SELECT r.id, r.operation, r.status::text AS status, r.connected_system_id AS "connectedSystemId", cs.name AS "systemName",
            r.scopes
       FROM run r JOIN connected_system cs ON cs.id = r.connected_system_id
      WHERE ${where} AND r.status = ANY($${params.length + 1}::run_status[])
      ORDER BY r.created_at LIMIT 1`,
    [...params, ACTIVE_STATUSES],
  );
  return rows[0] ?? null;
}

/** A run as its claim returns it to the worker. */
export interface ClaimedRun {
  id: string;
  operation: OperationType;
  profile: RunInfo["profile"];
  status: string;
  /** Who started it (start-gate.ts RunTrigger): decides its queue priority when handed back. */
  trigger: string;
  connected_system_id: string;
  connection_settings_id: string;
  dry_run: boolean;
  attempt: number;
  max_attempts: number;
}

/**
 * Claim a run for a worker: only through the job the run currently points at (a superseded job
 * claims nothing), only while it is active. A run being cancelled stays CANCELLING, so its
 * worker ends it at once. Each claim is a new attempt: the lease of every earlier one is void.
 * The same statement appends its run.started event and publishes the run change (on commit):
 * one round trip per run start instead of four.
 */
export async function claimRun(
  client: QueryClient,
  claim: { runId: string; jobId: string; workerId: string },
): Promise<ClaimedRun | null> {
  const { rows } = await client.query<ClaimedRun>(
    `WITH claimed AS (
       UPDATE run SET status = CASE WHEN status = 'CANCELLING' THEN status ELSE 'RUNNING' END, worker_id = $3,
         attempt = attempt + 1, heartbeat_at = now(), started_at = coalesce(started_at, now()),
         phase = CASE WHEN phase = 'queued' THEN 'starting' ELSE phase END
       WHERE id = $1 AND job_id = $2 AND status IN ('QUEUED', 'RUNNING', 'CANCELLING')
       RETURNING id, operation, profile::text AS profile, status::text AS status, trigger, connected_system_id, connection_settings_id,
         dry_run, attempt, max_attempts),
     started AS (
       INSERT INTO run_event (run_id, type, data)
       SELECT id, $4, jsonb_build_object('workerId', $3::text, 'attempt', attempt) FROM claimed)
     SELECT claimed.*, ${runChangedNotifySql({ id: "id::text", connectedSystemId: "connected_system_id::text", status: "status" })}
       FROM claimed`,
    [claim.runId, claim.jobId, claim.workerId, RunEventType.started],
  );
  const row = rows[0];
  if (!row) return null;
  const {
    run_notified: _run,
    runs_notified: _runs,
    ...run
  } = row as ClaimedRun & Record<(typeof RUN_CHANGED_NOTIFIED)[number], unknown>;
  return run;
}

/** Where the run resumes: the checkpoint of its last committed batch (null before the first). */
export async function readCheckpoint(client: QueryClient, runId: string): Promise<unknown> {
  const { rows } = await client.query<{ checkpoint: unknown }>("SELECT checkpoint FROM run WHERE id = $1", [runId]);
  return rows[0]?.checkpoint ?? null;
}

/**
 * Mark the leased run live (database time). Returns its status (CANCELLING: a cancel was
 * requested), or null when the lease is lost. clock_timestamp(), not now(): a beat sent while a
 * batch holds the run row waits for that batch's commit, and now() would stamp it with when it
 * was sent (pg_stat_statements at 100,000 people under load: 13 beats waited 12 s in all).
 */
export async function touchHeartbeat(client: QueryClient, lease: Lease): Promise<string | null> {
  const { rows } = await client.query<{ status: string }>(
    `UPDATE run SET heartbeat_at = clock_timestamp()
      WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND status IN ('RUNNING', 'CANCELLING')
      RETURNING status::text AS status`,
    [lease.runId, lease.attempt, lease.workerId],
  );
  return rows[0]?.status ?? null;
}

/** The ownership of a run, read under its row lock. */
export interface RunOwnership {
  status: string;
  attempt: number;
  worker_id: string | null;
  /** pauseRun asked the owner to stop at its next batch boundary. */
  pause_requested: boolean;
  connected_system_id: string;
  /** Batches recorded so far: the next one is this + 1 (the row lock keeps it so until commit). */
  batch: number;
}

/**
 * Lock the run row (FOR UPDATE) and return who owns it. The row lock orders a batch against
 * cancel and recovery, which lock the same row: each sees the other whole or not at all.
 */
export async function lockRun(client: QueryClient, runId: string): Promise<RunOwnership | null> {
  const { rows } = await client.query<RunOwnership>(
    `SELECT status::text AS status, attempt, worker_id, pause_requested_at IS NOT NULL AS pause_requested, connected_system_id, batch
       FROM run WHERE id = $1 FOR UPDATE`,
    [runId],
  );
  return rows[0] ?? null;
}

export function holdsLease(run: RunOwnership, lease: Lease): boolean {
  return run.attempt === lease.attempt && run.worker_id === lease.workerId;
}

/** The run's counter columns, by RunCounts key. */
export const COUNT_COLUMNS = [
  ["fetched", "fetched"],
  ["created", "created"],
  ["updated", "updated"],
  ["deleted", "deleted"],
  ["unchanged", "unchanged"],
  ["failed", "failed"],
  ["exportsQueued", "exports_queued"],
] as const satisfies readonly (readonly [keyof RunCounts, string])[];

/** The counts as one JSON object keyed like RunCounts. */
const COUNTS_JSON = `json_build_object(${COUNT_COLUMNS.map(([key, column]) => `'${key}', ${column}`).join(", ")})`;

/** A run event as the batch's statement writes it. */
export interface BatchEvent {
  type: string;
  data?: Record<string, unknown>;
}

/**
 * Record one committed batch: add its counts, set progress and checkpoint, and in the same
 * statement append its run events and send its notifications (pg_notify arguments, delivered on
 * commit): one round trip instead of four, on every batch of every run. Called inside the
 * batch's transaction, after lockRun, so the checkpoint commits with the batch's data. Progress
 * is stamped with clock_timestamp(), the moment it is written at the end of the batch: now()
 * is when the batch's transaction began, seconds earlier for a large batch.
 */
export async function recordBatch(
  client: QueryClient,
  runId: string,
  outcome: Pick<BatchOutcome, "counts" | "phase" | "processed" | "total" | "checkpoint">,
  also: { events?: BatchEvent[]; notifications?: { channel: string; message: string }[] } = {},
): Promise<{ batch: number; connected_system_id: string; status: string }> {
  const sets = COUNT_COLUMNS.map(([, column], i) => `${column} = ${column} + $${i + 2}`).join(", ");
  const values = COUNT_COLUMNS.map(([key]) => Math.trunc(outcome.counts[key] ?? 0));
  const events = also.events ?? [];
  const notifications = also.notifications ?? [];
  const { rows } = await client.query<{ batch: number; connected_system_id: string; status: string }>(
    `WITH batch AS (
       UPDATE run SET ${sets}, phase = $9, processed = $10, total = $11, checkpoint = $12::jsonb, batch = batch + 1,
         progress_updated_at = clock_timestamp(), heartbeat_at = clock_timestamp()
       WHERE id = $1 RETURNING batch, connected_system_id, status::text AS status),
     events AS (
       INSERT INTO run_event (run_id, type, data)
       SELECT $1, t, d::jsonb FROM unnest($13::text[], $14::text[]) AS e(t, d))
     SELECT batch, connected_system_id, status,
            (SELECT count(pg_notify(n.channel, n.message)) FROM unnest($15::text[], $16::text[]) AS n(channel, message)) AS notified
       FROM batch`,
    [
      runId,
      ...values,
      outcome.phase,
      Math.trunc(outcome.processed),
      outcome.total ?? null,
      JSON.stringify(outcome.checkpoint ?? null),
      events.map((e) => e.type),
      events.map((e) => JSON.stringify(e.data ?? {})),
      notifications.map((n) => n.channel),
      notifications.map((n) => n.message),
    ],
  );
  return rows[0]!;
}

/** The leased run's status and counts, under its row lock; null when the lease is lost. */
export async function lockLeasedRun(client: QueryClient, lease: Lease): Promise<{ status: string; counts: RunCounts } | null> {
  const { rows } = await client.query<{ status: string; counts: RunCounts }>(
    `SELECT status::text AS status, ${COUNTS_JSON} AS counts FROM run
      WHERE id = $1 AND attempt = $2 AND worker_id = $3 FOR UPDATE`,
    [lease.runId, lease.attempt, lease.workerId],
  );
  return rows[0] ?? null;
}

/**
 * Write the final state of a leased run (see decideFinalStatus) and release the lease. Returns
 * the counts and duration for the completion event, or null when the lease was lost meanwhile.
 * The same statement appends the run.completed event (with `reasonCode`) and publishes the run
 * change (on commit): one round trip instead of four at every run end.
 */
export async function finishRun(
  client: QueryClient,
  lease: Lease,
  final: FinalRunState,
  completed: { reasonCode: string | null },
): Promise<{ status: string; counts: RunCounts; duration_ms: number } | null> {
  const { rows } = await client.query<{ status: string; counts: RunCounts; duration_ms: number }>(
    `WITH finished AS (
       UPDATE run SET status = $4::run_status, phase = $9, reason_code = $5, reason = $6, error = $7, next_steps = $8,
         finished_at = now(), heartbeat_at = now(), worker_id = NULL
       WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND status IN ('RUNNING', 'CANCELLING')
       RETURNING id, connected_system_id, status::text AS status,
         round(extract(epoch FROM finished_at - started_at) * 1000) AS duration_ms, ${COUNTS_JSON} AS counts),
     completed AS (
       INSERT INTO run_event (run_id, type, data)
       SELECT id, $10, jsonb_build_object('status', status, 'counts', counts, 'durationMs', duration_ms, 'reasonCode', $11::text)
         FROM finished)
     SELECT status, counts, duration_ms,
            ${runChangedNotifySql({ id: "id::text", connectedSystemId: "connected_system_id::text", status: "status" })}
       FROM finished`,
    [
      lease.runId,
      lease.attempt,
      lease.workerId,
      final.status,
      final.reasonCode,
      final.reason,
      final.error,
      final.nextSteps,
      final.status.toLowerCase(),
      RunEventType.completed,
      completed.reasonCode,
    ],
  );
  const row = rows[0];
  return row ? { status: row.status, counts: row.counts, duration_ms: row.duration_ms } : null;
}

/**
 * Point the run at a new job and fence off its owner. heartbeat_at = now() is a grace period:
 * the run is not recovered again before a worker claims the new job.
 */
export async function requeueRun(client: QueryClient, runId: string, jobId: string): Promise<void> {
  await client.query("UPDATE run SET job_id = $2, worker_id = NULL, heartbeat_at = now() WHERE id = $1", [runId, jobId]);
}

/** A run whose worker stopped heartbeating, as recovery locks it. */
export interface OrphanedRun {
  id: string;
  status: string;
  attempt: number;
  max_attempts: number;
  job_id: string | null;
  worker_id: string | null;
  trigger: string;
  connected_system_id: string;
  connection_settings_id: string;
}

/**
 * Lock up to `limit` running runs whose heartbeat is older than `staleAfterMs`. SKIP LOCKED: a
 * row locked by an in-flight batch is alive by definition, and two recovering workers never
 * take the same run.
 */
export async function lockOrphanedRuns(client: QueryClient, staleAfterMs: number, limit: number): Promise<OrphanedRun[]> {
  const { rows } = await client.query<OrphanedRun>(
    `SELECT id, status::text AS status, attempt, max_attempts, job_id, worker_id, trigger, connected_system_id, connection_settings_id
       FROM run
      WHERE status IN ('RUNNING', 'CANCELLING')
        AND coalesce(heartbeat_at, created_at) < now() - make_interval(secs => $1::float8 / 1000)
      ORDER BY heartbeat_at LIMIT $2
      FOR UPDATE SKIP LOCKED`,
    [staleAfterMs, limit],
  );
  return rows;
}

/** End an orphaned run without its worker; a reason also becomes its error. */
export async function finishOrphanedRun(
  client: QueryClient,
  runId: string,
  ending: { status: "CANCELLED" | "FAILED"; reasonCode: string | null; reason: string | null },
): Promise<void> {
  await client.query(
    `UPDATE run SET status = $2::run_status, finished_at = now(), phase = $5, reason_code = $3, reason = $4,
       error = coalesce($4, error), worker_id = NULL WHERE id = $1`,
    [runId, ending.status, ending.reasonCode, ending.reason, ending.status.toLowerCase()],
  );
}

/**
 * The leased run stops at a batch boundary as PAUSED: no owner, no job, its checkpoint kept.
 * Returns false when the lease was lost meanwhile.
 */
export async function pauseLeasedRun(client: QueryClient, lease: Lease): Promise<boolean> {
  const { rowCount } = await client.query(
    `UPDATE run SET status = 'PAUSED', pause_requested_at = NULL, worker_id = NULL, job_id = NULL, phase = 'paused'
      WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND status = 'RUNNING'`,
    [lease.runId, lease.attempt, lease.workerId],
  );
  return rowCount === 1;
}
