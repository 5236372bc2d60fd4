import { inTransaction } from "../db/transaction.ts";
import { RunCancelledError, type SystemInfo } from "../engine/run-context.ts";
import { RunEventType } from "../engine/run-events.ts";
import { type ExecuteDeps, readSystem, runInfo } from "./execute-deps.ts";
import { startHeartbeat } from "./heartbeat.ts";
import { createRunContext, LeaseLostError, RunPausedError, WorkerStoppingError } from "./managed-run-context.ts";
import { endPartitionedRun } from "./partition-store.ts";
import { coordinatePartitions, partitionable } from "./partitions.ts";
import { insertRunEvents, publishRunChanged } from "./progress.ts";
import { resubmitRun } from "./recovery.ts";
import { backoffDelay, errorCode, isTransient, sleep } from "./retry.ts";
import { decideFinalStatus, type OperationEnding } from "./run-status.ts";
import { type ClaimedRun, claimRun, finishRun, type Lease, lockLeasedRun, pauseLeasedRun, readCheckpoint } from "./run-store.ts";

export type { ExecuteDeps, ExecutorMap } from "./execute-deps.ts";

/** How the operation ended; RELEASED: handed back to the queue (worker stopping), not finished. */
type Ending = OperationEnding | { status: "RELEASED" } | { status: "PAUSED" };

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
  const system = await readSystem(deps, claimed.connected_system_id);
  // One line per start and per finish (finish()), so the log alone tells what ran, where and how it ended.
  const about = { system: system?.name ?? null, systemId: claimed.connected_system_id, profile: claimed.profile };
  log.info({ ...about, dryRun: claimed.dry_run, workerId: deps.workerId }, "run started");
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
    else ending = await runWithRetries(deps, claimed, system, lease, abort.signal);
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
  if (ending.status === "PAUSED") {
    if (await pause(deps, claimed, lease)) log.info({ ...about, status: "PAUSED" }, "run paused");
    return;
  }
  const done = await finish(deps, claimed, lease, ending);
  if (done)
    log.info(
      { ...about, status: done.status, counts: done.counts, durationMs: done.durationMs, reasonCode: done.reasonCode },
      "run finished",
    );
}

async function claim(deps: ExecuteDeps, runId: string, jobId: string): Promise<ClaimedRun | null> {
  // With its run.started event and run change, in one statement.
  return claimRun(deps.pool, { runId, jobId, workerId: deps.workerId });
}

async function runWithRetries(
  deps: ExecuteDeps,
  run: ClaimedRun,
  systemInfo: SystemInfo | undefined,
  lease: Lease,
  signal: AbortSignal,
): Promise<Ending> {
  const executor = deps.executors[run.operation];
  if (!executor)
    return {
      status: "FAILED",
      reasonCode: "OPERATION_UNAVAILABLE",
      reason: `No executor for ${run.operation} is installed in this worker.`,
      error: null,
      nextSteps: ["Upgrade the workers to a Metasync version that implements this operation"],
    };
  const system = systemInfo!;
  // The pinned version, never the system's current one: settings edited after acceptance do not apply.
  const config = await deps.systems.resolveConfig(run.connection_settings_id);
  for (let retry = 0; ; retry++) {
    const info = runInfo(run, await readCheckpoint(deps.pool, run.id));
    // A large run spread over the workers: this job coordinates, and processes partitions too.
    const partitions = partitionable(deps, run, executor)
      ? coordinatePartitions(deps, run, executor, system, config, { interruption: () => ctx.interruption(), signal })
      : undefined;
    const ctx = createRunContext({ ...deps, importBatchSize: deps.options.importBatchSize }, lease, info, system, config, {
      signal,
      stopping: deps.stopping,
      partitions,
    });
    try {
      await executor(ctx);
      return { status: "COMPLETED" };
    } catch (thrown) {
      // A wait cut short by cancel, pause or shutdown throws an AbortError: say which it was.
      const e = (signal.aborted && (await ctx.interruption())) || thrown;
      if (e instanceof RunCancelledError) return { status: "CANCELLED" };
      if (e instanceof WorkerStoppingError) return { status: "RELEASED" };
      if (e instanceof RunPausedError) return { status: "PAUSED" };
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

/** Writes the final status; what was written, or null when another worker owns the run now. */
async function finish(deps: ExecuteDeps, run: ClaimedRun, lease: Lease, ending: OperationEnding) {
  const failed = ending.status === "FAILED" ? ending : null;
  // Decided under the row lock: a cancel requested after the last batch (CANCELLING) is seen here
  // and still ends the run CANCELLED, as the caller was promised. The completion event commits
  // with the final status, so whoever sees the status also finds the event.
  return inTransaction(deps.pool, async (client) => {
    const current = await lockLeasedRun(client, lease);
    if (!current) return null; // taken over meanwhile: the new owner finishes it
    const final = decideFinalStatus({ ending, cancelRequested: current.status === "CANCELLING", counts: current.counts });
    // With its run.completed event and run change, in one statement (the change is heard on commit).
    const done = await finishRun(client, lease, final, { reasonCode: failed?.reasonCode ?? null });
    if (!done) return null;
    await endPartitionedRun(client, run.id);
    const durationMs = Math.round(Number(done.duration_ms));
    await deps.alerts?.forRunEnd(client, run.id);
    return { status: done.status, counts: done.counts, durationMs, reasonCode: failed?.reasonCode ?? null };
  });
}

/** Stopped at a batch boundary by pauseRun: PAUSED with its checkpoint, holding its scopes, no job. */
async function pause(deps: ExecuteDeps, run: ClaimedRun, lease: Lease): Promise<boolean> {
  return inTransaction(deps.pool, async (client) => {
    if (!(await pauseLeasedRun(client, lease))) return false;
    await insertRunEvents(client, run.id, [{ type: RunEventType.paused, data: { workerId: lease.workerId } }]);
    await publishRunChanged(deps.bus, { id: run.id, connectedSystemId: run.connected_system_id, status: "PAUSED" }, client);
    return true;
  });
}

async function release(deps: ExecuteDeps, run: ClaimedRun, lease: Lease) {
  await inTransaction(deps.pool, async (client) => {
    const current = await lockLeasedRun(client, lease);
    if (current)
      await resubmitRun(
        deps,
        client,
        { ...run, status: current.status },
        { reason: "worker shutdown", previousWorkerId: lease.workerId },
      );
  });
}
