import type pg from "pg";
import type { ConnectorFactory } from "../connectors/deps.ts";
import { inTransaction } from "../db/transaction.ts";
import { type OperationExecutor, RunCancelledError, type RunInfo, type SystemInfo } from "../engine/run-context.ts";
import type { EventBus } from "../events/bus.ts";
import type { Logger } from "../logger.ts";
import type { ConnectedSystems } from "../systems/connected-systems.ts";
import { startHeartbeat } from "./heartbeat.ts";
import type { OperationType } from "./operations.ts";
import type { RunOptions } from "./options.ts";
import { insertRunEvents, publishRunChanged, RunEventType } from "./progress.ts";
import type { RunQueue } from "./queue.ts";
import { requeueRun } from "./recovery.ts";
import { backoffDelay, errorCode, isTransient, sleep } from "./retry.ts";
import { createRunContext, type Lease, LeaseLostError, WorkerStoppingError } from "./run-context.ts";

export type ExecutorMap = Partial<Record<OperationType, OperationExecutor>>;

export interface ExecuteDeps {
  pool: pg.Pool;
  bus: EventBus;
  queue: RunQueue;
  logger: Logger;
  systems: ConnectedSystems;
  connectorFactory: ConnectorFactory;
  executors: ExecutorMap;
  options: RunOptions;
  workerId: string;
  stopping(): boolean;
  /** Aborted when the worker stops. */
  shutdown: AbortSignal;
}

interface ClaimedRun {
  id: string;
  operation: OperationType;
  profile: RunInfo["profile"];
  status: string;
  connected_system_id: string;
  connection_settings_id: string;
  dry_run: boolean;
  attempt: number;
  max_attempts: number;
}

type Ending =
  | { status: "COMPLETED" }
  | { status: "CANCELLED" }
  | { status: "FAILED"; reasonCode: string; reason: string; error: string | null; nextSteps: string[] }
  | { status: "RELEASED" };

/**
 * Execute one run's job: claim it (only the job the run currently points at, so a superseded
 * job is a no-op), run its operation's batches with heartbeat, retry transient failures from
 * the last checkpoint, and write the final status. Every write is fenced by the claim.
 */
export async function executeRun(deps: ExecuteDeps, runId: string, jobId: string): Promise<void> {
  const claimed = await claim(deps, runId, jobId);
  if (!claimed) return;
  const lease: Lease = { runId, attempt: claimed.attempt, workerId: deps.workerId };
  const log = deps.logger.child({ runId, operation: claimed.operation, attempt: claimed.attempt });
  const abort = new AbortController();
  const onShutdown = () => abort.abort();
  deps.shutdown.addEventListener("abort", onShutdown, { once: true });
  const heartbeat = startHeartbeat({
    pool: deps.pool,
    logger: log,
    lease,
    intervalMs: deps.options.heartbeatMs,
    onCancelRequested: () => abort.abort(),
    onLeaseLost: () => abort.abort(),
  });
  let ending: Ending;
  try {
    if (claimed.status === "CANCELLING") ending = { status: "CANCELLED" };
    else if (claimed.attempt > claimed.max_attempts)
      ending = {
        status: "FAILED",
        reasonCode: "WORKER_LOST",
        reason: `The run was started ${claimed.max_attempts} times without finishing; it is not resumed again.`,
        error: null,
        nextSteps: ["Check the workers' logs for crashes, then start the run again"],
      };
    else ending = await runWithRetries(deps, claimed, lease, abort.signal);
  } catch (e) {
    if (e instanceof LeaseLostError) {
      log.warn("run was taken over by another worker; stopping without further writes");
      return;
    }
    // The machinery itself failed (e.g. the pinned secrets cannot be decrypted here): end the run
    // FAILED now rather than leaving it to heartbeat-less recovery loops.
    log.error({ err: e }, "run failed outside its operation");
    const message = e instanceof Error ? e.message : String(e);
    ending = {
      status: "FAILED",
      reasonCode: "INTERNAL_ERROR",
      reason: `The worker could not execute ${claimed.operation}: ${message}`,
      error: message,
      nextSteps: ["Check the worker's logs, then start the run again"],
    };
  } finally {
    heartbeat.stop();
    deps.shutdown.removeEventListener("abort", onShutdown);
  }
  if (ending.status === "RELEASED") return release(deps, claimed, lease);
  await finish(deps, claimed, lease, ending);
}

async function claim(deps: ExecuteDeps, runId: string, jobId: string): Promise<ClaimedRun | null> {
  const { rows } = await deps.pool.query<ClaimedRun>(
    `UPDATE run SET status = CASE WHEN status = 'CANCELLING' THEN status ELSE 'RUNNING' END, worker_id = $3,
       attempt = attempt + 1, heartbeat_at = now(), started_at = coalesce(started_at, now()),
       phase = CASE WHEN phase = 'queued' THEN 'starting' ELSE phase END
     WHERE id = $1 AND job_id = $2 AND status IN ('QUEUED', 'RUNNING', 'CANCELLING')
     RETURNING id, operation, profile::text AS profile, status::text AS status, connected_system_id, connection_settings_id,
       dry_run, attempt, max_attempts`,
    [runId, jobId, deps.workerId],
  );
  const run = rows[0];
  if (!run) return null;
  await insertRunEvents(deps.pool, runId, [
    { type: RunEventType.started, data: { workerId: deps.workerId, attempt: run.attempt } },
  ]);
  await publishRunChanged(deps.bus, { id: runId, connectedSystemId: run.connected_system_id, status: run.status });
  return run;
}

async function runWithRetries(deps: ExecuteDeps, run: ClaimedRun, lease: Lease, signal: AbortSignal): Promise<Ending> {
  const executor = deps.executors[run.operation];
  if (!executor)
    return {
      status: "FAILED",
      reasonCode: "OPERATION_UNAVAILABLE",
      reason: `No executor for ${run.operation} is installed in this worker.`,
      error: null,
      nextSteps: ["Upgrade the workers to a Metasync version that implements this operation"],
    };
  const systemRow = await deps.pool.query<SystemInfo>(
    `SELECT id, name, kind::text AS kind, delete_threshold AS "deleteThreshold" FROM connected_system WHERE id = $1`,
    [run.connected_system_id],
  );
  const system = systemRow.rows[0]!;
  // The pinned version, never the system's current one: settings edited after acceptance do not apply.
  const config = await deps.systems.resolveConfig(run.connection_settings_id);
  for (let retry = 0; ; retry++) {
    const checkpoint = await deps.pool.query<{ checkpoint: unknown }>("SELECT checkpoint FROM run WHERE id = $1", [run.id]);
    const info: RunInfo = {
      id: run.id,
      operation: run.operation,
      profile: run.profile,
      connectedSystemId: run.connected_system_id,
      connectionSettingsId: run.connection_settings_id,
      dryRun: run.dry_run,
      checkpoint: checkpoint.rows[0]?.checkpoint ?? null,
      attempt: run.attempt,
    };
    const ctx = createRunContext({ ...deps, importBatchSize: deps.options.importBatchSize }, lease, info, system, config, {
      signal,
      stopping: deps.stopping,
    });
    try {
      await executor(ctx);
      return { status: "COMPLETED" };
    } catch (e) {
      if (e instanceof RunCancelledError) return { status: "CANCELLED" };
      if (e instanceof WorkerStoppingError) return { status: "RELEASED" };
      if (e instanceof LeaseLostError) throw e;
      const message = e instanceof Error ? e.message : String(e);
      if (!isTransient(e) || retry >= deps.options.retry.maxRetries) {
        const tries = retry > 0 ? ` after ${retry} ${retry === 1 ? "retry" : "retries"}` : "";
        return {
          status: "FAILED",
          reasonCode: errorCode(e),
          reason: `${run.operation} failed${tries}: ${message}`,
          error: message,
          nextSteps: isTransient(e)
            ? ["The failure looked temporary: start the run again later"]
            : ["Fix the cause above and start the run again"],
        };
      }
      const delayMs = backoffDelay(retry + 1, deps.options.retry);
      await ctx.event(RunEventType.retryAttempt, { attempt: retry + 1, delayMs, code: errorCode(e), error: message });
      deps.logger.warn({ runId: run.id, attempt: retry + 1, delayMs, err: e }, "transient failure, retrying from checkpoint");
      await sleep(delayMs, signal);
      // Cancel or shutdown during the wait: the next batch() reports which.
    } finally {
      await ctx.release();
    }
  }
}

async function finish(deps: ExecuteDeps, run: ClaimedRun, lease: Lease, ending: Exclude<Ending, { status: "RELEASED" }>) {
  const failed = ending.status === "FAILED" ? ending : null;
  // COMPLETED becomes PARTIAL when some records failed, FAILED when every one did; a cancel
  // requested after the last batch still ends CANCELLED, as the caller was promised.
  const { rows } = await deps.pool.query<{ status: string; counts: Record<string, number>; duration_ms: number }>(
    `UPDATE run SET
       status = (CASE
         WHEN status = 'CANCELLING' THEN 'CANCELLED'
         WHEN $4 <> 'COMPLETED' THEN $4
         WHEN failed > 0 AND created + updated + deleted + unchanged + exports_queued = 0 THEN 'FAILED'
         WHEN failed > 0 THEN 'PARTIAL'
         ELSE 'COMPLETED' END)::run_status,
       reason_code = coalesce($5, CASE WHEN failed > 0 AND $4 = 'COMPLETED' THEN 'RECORDS_FAILED' END),
       reason = coalesce($6, CASE WHEN failed > 0 AND $4 = 'COMPLETED' THEN failed || ' record(s) failed; see the run''s changes' END),
       error = $7, next_steps = $8, finished_at = now(), heartbeat_at = now(), worker_id = NULL
     WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND status IN ('RUNNING', 'CANCELLING')
     RETURNING status::text AS status, extract(epoch FROM finished_at - started_at) * 1000 AS duration_ms,
       json_build_object('fetched', fetched, 'created', created, 'updated', updated, 'deleted', deleted,
         'unchanged', unchanged, 'failed', failed, 'exportsQueued', exports_queued) AS counts`,
    [
      run.id,
      lease.attempt,
      lease.workerId,
      ending.status,
      failed?.reasonCode ?? null,
      failed?.reason ?? null,
      failed?.error ?? null,
      failed?.nextSteps ?? [],
    ],
  );
  const done = rows[0];
  if (!done) return; // taken over meanwhile: the new owner finishes it
  await deps.pool.query("UPDATE run SET phase = lower(status::text) WHERE id = $1", [run.id]);
  await insertRunEvents(deps.pool, run.id, [
    {
      type: RunEventType.completed,
      data: {
        status: done.status,
        counts: done.counts,
        durationMs: Math.round(Number(done.duration_ms)),
        reasonCode: failed?.reasonCode ?? null,
      },
    },
  ]);
  await publishRunChanged(deps.bus, { id: run.id, connectedSystemId: run.connected_system_id, status: done.status });
}

async function release(deps: ExecuteDeps, run: ClaimedRun, lease: Lease) {
  await inTransaction(deps.pool, async (client) => {
    const { rows } = await client.query<{ status: string }>(
      "SELECT status::text AS status FROM run WHERE id = $1 AND attempt = $2 AND worker_id = $3 FOR UPDATE",
      [run.id, lease.attempt, lease.workerId],
    );
    if (rows[0])
      await requeueRun(
        deps,
        client,
        { ...run, status: rows[0].status },
        { reason: "worker shutdown", previousWorkerId: lease.workerId },
      );
  });
}
