import type pg from "pg";
import { inTransaction } from "../db/transaction.ts";
import {
  type BatchOutcome,
  type PartitionControl,
  type PartitionedExecutor,
  type PartitionRange,
  RunCancelledError,
  type RunContext,
  type RunCounts,
  type SystemInfo,
} from "../engine/run-context.ts";
import { RunEventType } from "../engine/run-events.ts";
import { type ExecuteDeps, readSystem, runInfo } from "./execute-deps.ts";
import { startHeartbeat } from "./heartbeat.ts";
import { createRunContext, RunPausedError, WorkerStoppingError } from "./managed-run-context.ts";
import {
  addPartitionBatchToRun,
  claimPartition,
  createOrRequeuePartitions,
  endPartition,
  lockLeasedPartition,
  type NewPartitionJob,
  type PartitionLease,
  type PartitionRow,
  partitionProgress,
  recordPartitionBatch,
  requeueStalePartitions,
  touchPartition,
} from "./partition-store.ts";
import { insertRunEvents, publishRunChanged, RUNS_QUEUED_TOPIC } from "./progress.ts";
import { priorityOf } from "./queue.ts";
import { sleep } from "./retry.ts";
import type { ClaimedRun } from "./run-store.ts";

/**
 * Partitioned runs: a large FULL_SYNC cut into id ranges that any worker claims.
 *  - The run's own job is the coordinator: it records the partitions (run_partition) with one
 *    pg-boss job each on the run queue, then claims and processes free partitions itself, and
 *    waits for those other workers took; the operation then does its once-per-run final step.
 *  - Each partition has its own lease, heartbeat and checkpoint: a worker that dies leaves a
 *    stale partition, which the coordinator queues again; whoever claims it resumes from its
 *    checkpoint. A coordinator that dies is recovered like any run and continues the same partitions.
 *  - A partition batch adds its counts and progress to the run in its own transaction, as its
 *    last statement and only while the run is RUNNING and not being paused: cancel and pause
 *    reach every partition at its next batch boundary, and a batch is never half applied.
 */

/** A partition ended FAILED: the run fails with its error (after the others stopped or finished). */
export class PartitionFailedError extends Error {
  readonly code = "PARTITION_FAILED";
  constructor(runId: string, error: string) {
    super(`a partition of run ${runId} failed: ${error}`);
    this.name = "PartitionFailedError";
  }
}

/** This worker no longer holds the partition (it was queued again elsewhere): stop without writing. */
class PartitionLostError extends Error {
  constructor(lease: PartitionLease) {
    super(`worker ${lease.workerId} lost partition ${lease.index} of run ${lease.runId}`);
    this.name = "PartitionLostError";
  }
}

type Run = Pick<
  ClaimedRun,
  "id" | "operation" | "profile" | "trigger" | "connected_system_id" | "connection_settings_id" | "dry_run" | "attempt"
>;

/** Whether the run's executor and options allow partitions. */
export function partitionable(deps: ExecuteDeps, run: Run, executor: unknown): executor is PartitionedExecutor {
  return deps.options.partitionSize > 0 && !run.dry_run && typeof (executor as { partition?: unknown }).partition === "function";
}

/** The coordinator's PartitionControl, for the run's context (see execute-run.ts). */
export function coordinatePartitions(
  deps: ExecuteDeps,
  run: Run,
  executor: PartitionedExecutor,
  system: SystemInfo,
  config: Record<string, unknown>,
  control: { interruption(): Promise<Error | null>; signal: AbortSignal },
): PartitionControl {
  const pollMs = Math.min(deps.options.heartbeatMs, 1000);
  return {
    size: deps.options.partitionSize,
    async run(ranges: PartitionRange[]) {
      await inTransaction(deps.pool, async (client) =>
        sendJobs(deps, client, run, await createOrRequeuePartitions(client, run.id, ranges)),
      );
      for (;;) {
        const stop = await control.interruption();
        if (stop) throw stop;
        await inTransaction(deps.pool, async (client) =>
          sendJobs(
            deps,
            client,
            run,
            await requeueStalePartitions(client, run.id, deps.options.staleAfterMs, deps.options.maxRecoveries + 1),
          ),
        );
        const mine = await claimPartition(deps.pool, { runId: run.id, workerId: deps.workerId, index: null });
        if (mine) {
          await processPartition(deps, run, mine, executor, system, config);
          continue;
        }
        const progress = await partitionProgress(deps.pool, run.id);
        if (progress.failed) throw new PartitionFailedError(run.id, progress.failed.error ?? "unknown error");
        if (progress.completed === progress.total) return progress.processed;
        await sleep(pollMs, control.signal);
      }
    },
  };
}

/** A partition's job, in any worker: claim that partition (if still queued) and process it. */
export async function executePartitionJob(deps: ExecuteDeps, runId: string, index: number, jobId: string): Promise<void> {
  const row = await claimPartition(deps.pool, { runId, workerId: deps.workerId, index, jobId });
  if (!row) return;
  const lease: PartitionLease = { runId, index, attempt: row.attempt, workerId: deps.workerId };
  try {
    const run = await readRun(deps.pool, runId);
    const executor = deps.executors[run.operation as keyof ExecuteDeps["executors"]];
    if (!partitionable(deps, run, executor)) throw new Error(`no partitioned ${run.operation} is installed in this worker`);
    const system = await readSystem(deps, run.connected_system_id);
    if (!system) throw new Error(`connected system ${run.connected_system_id} no longer exists`);
    const config = await deps.systems.resolveConfig(run.connection_settings_id);
    await processPartition(deps, run, row, executor, system, config);
  } catch (e) {
    // The machinery around the partition failed (e.g. the pinned secrets cannot be opened here).
    const error = e instanceof Error ? e.message : String(e);
    deps.logger.error({ err: e, runId, partition: index }, "partition failed outside its operation");
    await endPartition(deps.pool, lease, { status: "FAILED", error });
  }
}

async function readRun(pool: pg.Pool, runId: string): Promise<Run> {
  const { rows } = await pool.query<Run>(
    `SELECT id, operation, profile::text AS profile, trigger, connected_system_id, connection_settings_id, dry_run, attempt
       FROM run WHERE id = $1`,
    [runId],
  );
  if (!rows[0]) throw new Error(`run ${runId} no longer exists`);
  return rows[0];
}

async function sendJobs(deps: ExecuteDeps, client: pg.PoolClient, run: Run, jobs: NewPartitionJob[]) {
  for (const job of jobs)
    await deps.queue.send(
      client,
      job.jobId,
      { runId: run.id, connectionSettingsId: run.connection_settings_id, partition: job.index },
      priorityOf(run.trigger),
    );
  if (jobs.length) await deps.bus.publish(RUNS_QUEUED_TOPIC, { runId: run.id }, client);
}

/** Process one claimed partition to its end, and record how it ended. */
async function processPartition(
  deps: ExecuteDeps,
  run: Run,
  row: PartitionRow,
  executor: PartitionedExecutor,
  system: SystemInfo,
  config: Record<string, unknown>,
): Promise<void> {
  const lease: PartitionLease = { runId: run.id, index: row.index, attempt: row.attempt, workerId: deps.workerId };
  const log = deps.logger.child({ runId: run.id, partition: row.index, attempt: row.attempt });
  log.info({ workerId: deps.workerId, afterId: row.after_id, toId: row.to_id }, "partition started");
  const abort = new AbortController();
  const onShutdown = () => abort.abort();
  deps.shutdown.addEventListener("abort", onShutdown, { once: true });
  const heartbeat = startHeartbeat({
    pool: deps.pool,
    logger: log,
    lease: { runId: run.id, attempt: row.attempt, workerId: deps.workerId },
    intervalMs: deps.options.heartbeatMs,
    // Any status but RUNNING (cancelling, or ended by another partition's failure) stops it.
    touch: async () => {
      const status = await touchPartition(deps.pool, lease);
      return status === null || status === "RUNNING" ? status : "CANCELLING";
    },
    onCancelRequested: () => abort.abort(),
    onLeaseLost: () => abort.abort(),
  });
  const info = runInfo(run, row.checkpoint);
  const base = createRunContext(
    { ...deps, importBatchSize: deps.options.importBatchSize },
    { runId: run.id, attempt: run.attempt, workerId: deps.workerId },
    info,
    system,
    config,
    { signal: abort.signal, stopping: deps.stopping },
  );
  const boundary = async (client: pg.PoolClient) => {
    const current = await lockLeasedPartition(client, lease);
    if (!current) throw new PartitionLostError(lease);
    const stop = await runStopReason(client, run.id);
    if (stop) throw stop;
    if (deps.stopping()) throw new WorkerStoppingError(run.id);
    return current;
  };
  const ctx: RunContext = { ...base, batch: (work) => partitionBatch(deps, lease, boundary, work) };
  let ending: Parameters<typeof endPartition>[2] | null;
  try {
    await executor.partition(ctx, { afterId: row.after_id, toId: row.to_id, size: row.size });
    ending = { status: "COMPLETED" };
  } catch (thrown) {
    let e = thrown;
    if (abort.signal.aborted)
      e =
        (await inTransaction(deps.pool, boundary).then(
          () => null,
          (reason: unknown) => reason,
        )) ?? thrown;
    if (e instanceof PartitionLostError) ending = null;
    else if (e instanceof RunCancelledError) ending = { status: "CANCELLED" };
    else if (e instanceof RunPausedError) ending = { status: "QUEUED" };
    else if (e instanceof WorkerStoppingError) ending = { status: "QUEUED", jobId: crypto.randomUUID() };
    else {
      log.error({ err: e }, "partition failed");
      ending = { status: "FAILED", error: e instanceof Error ? e.message : String(e) };
    }
  } finally {
    heartbeat.stop();
    deps.shutdown.removeEventListener("abort", onShutdown);
    await base.release();
  }
  if (!ending) {
    log.warn("partition was taken over by another worker; stopping without further writes");
    return;
  }
  const end = ending;
  await inTransaction(deps.pool, async (client) => {
    if (!(await endPartition(client, lease, end))) return;
    // Handed back at shutdown: any other worker may take it now (a paused one waits for resumeRun).
    if (end.jobId) await sendJobs(deps, client, run, [{ index: row.index, jobId: end.jobId }]);
    await publishRunChanged(deps.bus, { id: run.id, connectedSystemId: run.connected_system_id, status: "RUNNING" }, client);
  });
  log.info({ status: end.status }, "partition finished");
}

/**
 * Why a partition must stop at this boundary. Cancelled or ended (a partition failed): stop.
 * Being paused, paused, or queued again after a pause: hand the partition back; the coordinator
 * queues it again when the run resumes.
 */
async function runStopReason(client: pg.PoolClient, runId: string): Promise<Error | null> {
  const { rows } = await client.query<{ status: string; pause: boolean }>(
    "SELECT status::text AS status, pause_requested_at IS NOT NULL AS pause FROM run WHERE id = $1",
    [runId],
  );
  const run = rows[0];
  if (run?.status === "RUNNING") return run.pause ? new RunPausedError(runId) : null;
  if (run?.status === "PAUSED" || run?.status === "QUEUED") return new RunPausedError(runId);
  return new RunCancelledError(runId);
}

/** Times a batch that lost a deadlock to another partition is run again before the partition fails. */
const DEADLOCK_RETRIES = 5;

/** One batch of a partition: its writes, checkpoint and counts, then the run's sums, in one transaction. */
async function partitionBatch(
  deps: ExecuteDeps,
  lease: PartitionLease,
  boundary: (client: pg.PoolClient) => Promise<PartitionRow>,
  work: (tx: pg.PoolClient) => Promise<BatchOutcome>,
): Promise<void> {
  for (let retry = 0; ; retry++) {
    try {
      await inTransaction(deps.pool, async (client) => {
        const current = await boundary(client);
        const outcome = await work(client);
        if (outcome.empty) return;
        const counts = outcome.counts ?? {};
        await recordPartitionBatch(client, lease, {
          checkpoint: outcome.checkpoint,
          processed: outcome.processed,
          counts: addCounts(current.counts, counts),
        });
        const events = [...(outcome.events ?? [])];
        if (counts.fetched)
          events.push({ type: RunEventType.recordsFetched, data: { count: counts.fetched, partition: lease.index } });
        events.push({
          type: RunEventType.batchProcessed,
          data: {
            partition: lease.index,
            phase: outcome.phase,
            processed: outcome.processed,
            total: outcome.total ?? null,
            counts,
          },
        });
        await insertRunEvents(client, lease.runId, events);
        // Last: the run row stays locked only until this transaction commits.
        const run = await addPartitionBatchToRun(client, lease.runId, counts, outcome.processed - current.processed);
        if (!run) throw (await runStopReason(client, lease.runId)) ?? new RunCancelledError(lease.runId);
        await publishRunChanged(
          deps.bus,
          { id: lease.runId, connectedSystemId: run.connected_system_id, status: run.status },
          client,
        );
      });
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== "40P01" || retry >= DEADLOCK_RETRIES) throw e;
      deps.logger.debug(
        { runId: lease.runId, partition: lease.index, retry },
        "partition batch lost a deadlock; running it again",
      );
    }
  }
}

function addCounts(a: Partial<RunCounts>, b: Partial<RunCounts>): Partial<RunCounts> {
  const sum: Partial<RunCounts> = { ...a };
  for (const [key, value] of Object.entries(b) as [keyof RunCounts, number][]) sum[key] = (sum[key] ?? 0) + value;
  return sum;
}
