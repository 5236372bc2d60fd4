import { randomUUID } from "node:crypto";
import type { Job } from "pg-boss";
import { startAlertDelivery } from "../alerts/delivery-worker.ts";
import type { Services } from "../services.ts";
import { type ExecutorMap, executeRun } from "./execute-run.ts";
import { housekeepingOptions, startHousekeeping } from "./housekeeping.ts";
import { RUN_QUEUE } from "./operations.ts";
import { executePartitionJob } from "./partitions.ts";
import { RUNS_QUEUED_TOPIC } from "./progress.ts";
import type { RunJobData } from "./queue.ts";
import { startRealtimeDrainer } from "./realtime-drainer.ts";
import { recoverOrphanedRuns } from "./recovery.ts";
import { startScheduler } from "./scheduler.ts";
import { startWatchers } from "./watchers/supervisor.ts";

export interface WorkerHandle {
  readonly id: string;
  /** Stops fetching, hands runs in progress back to the queue at their next batch boundary. */
  stop(): Promise<void>;
}

export interface StartWorkerOptions {
  services: Services;
  /** Operation type -> the engine's batch work. Default: src/jobs/executors.ts. */
  executors: ExecutorMap;
  /** Run the schedule loop in this worker (default true; one leader at a time anyway). */
  scheduler?: boolean;
  /** Watch pull sources with realtime.watch on (default true; one worker per system anyway). */
  watchers?: boolean;
}

/**
 * A worker: pg-boss fetch loops (one per concurrent run), a recovery loop for orphaned runs,
 * the scheduler, the real-time drainer and housekeeping. Any number of these may run against one database.
 */
export async function startWorker({
  services,
  executors,
  scheduler = true,
  watchers: watch = true,
}: StartWorkerOptions): Promise<WorkerHandle> {
  const { queue, bus, logger } = services;
  const options = services.runOptions;
  const workerId = `${process.pid}-${randomUUID().slice(0, 8)}`;
  const log = logger.child({ component: "worker", workerId });
  const boss = await queue.start();
  const shutdown = new AbortController();
  let stopping = false;
  const inFlight = new Set<Promise<void>>();
  const deps = {
    ...services,
    pool: services.db.pool,
    executors,
    options,
    workerId,
    stopping: () => stopping,
    shutdown: shutdown.signal,
  };

  const handle = async (jobs: Job<RunJobData>[]) => {
    for (const job of jobs) {
      // A partition of a partitioned run (partitions.ts), or a run.
      const { partition } = job.data;
      const run = (
        partition === undefined
          ? executeRun(deps, job.data.runId, job.id)
          : executePartitionJob(deps, job.data.runId, partition, job.id)
      ).catch((err) => log.error({ err, runId: job.data.runId, partition }, "run execution failed"));
      inFlight.add(run);
      try {
        await run;
      } finally {
        inFlight.delete(run);
      }
    }
  };
  // One work() per slot so that a wake-up can reach every idle slot (notifyWorker wakes one id).
  const workIds: string[] = [];
  for (let i = 0; i < options.concurrency; i++)
    workIds.push(
      await boss.work<RunJobData>(RUN_QUEUE, { batchSize: 1, pollingIntervalSeconds: options.pollingIntervalSeconds }, handle),
    );

  const wakeups = bus.subscribe(RUNS_QUEUED_TOPIC);
  void (async () => {
    for await (const _ of wakeups) for (const id of workIds) boss.notifyWorker(id);
  })();

  const recoveryTimer = setInterval(() => {
    if (stopping) return;
    recoverOrphanedRuns({ ...services, pool: services.db.pool }, options.staleAfterMs).catch((err) =>
      log.warn({ err }, "recovery pass failed"),
    );
  }, options.recoveryIntervalMs);
  const schedules = scheduler ? startScheduler(services) : null;
  const realtime = startRealtimeDrainer(services);
  // Alert deliveries on their own queue and slots: a slow endpoint never holds a run slot.
  const alertDelivery = await startAlertDelivery(services);
  const watchers = watch ? startWatchers(services) : null;
  const housekeeping = startHousekeeping({ pool: services.db.pool, logger }, housekeepingOptions());
  log.info({ concurrency: options.concurrency }, "worker started");

  return {
    id: workerId,
    async stop() {
      if (stopping) return;
      stopping = true;
      clearInterval(recoveryTimer);
      await schedules?.stop();
      await watchers?.stop();
      await housekeeping.stop();
      await realtime.stop();
      await alertDelivery.stop();
      await wakeups.return?.();
      for (const id of workIds) await boss.offWork(RUN_QUEUE, { id, wait: false }).catch(() => {});
      shutdown.abort();
      await Promise.allSettled([...inFlight]);
      log.info("worker stopped");
    },
  };
}
