import type pg from "pg";
import type { Connector } from "../connectors/connector.ts";
import type { ConnectorFactory } from "../connectors/deps.ts";
import { inTransaction } from "../db/transaction.ts";
import { rateLimited } from "../engine/connected-system/rate-limited-connector.ts";
import { SystemRateLimiter } from "../engine/connected-system/rate-limiter.ts";
import { commitWithoutFlushWait } from "../engine/durability.ts";
import {
  type BatchOutcome,
  type PartitionControl,
  RunCancelledError,
  type RunContext,
  type RunInfo,
  type SystemInfo,
} from "../engine/run-context.ts";
import { RunEventType } from "../engine/run-events.ts";
import type { EventBus } from "../events/bus.ts";
import type { Logger } from "../logger.ts";
import { DEFAULT_RUN_OPTIONS } from "./options.ts";
import { insertRunEvents, runChangedNotifications } from "./progress.ts";
import { holdsLease, type Lease, lockRun, recordBatch } from "./run-store.ts";

export type { Lease } from "./run-store.ts";

/** This worker no longer owns the run (it was recovered elsewhere): stop without writing. */
export class LeaseLostError extends Error {
  constructor(lease: Lease) {
    super(`worker ${lease.workerId} lost run ${lease.runId} (attempt ${lease.attempt})`);
    this.name = "LeaseLostError";
  }
}

/** The worker is shutting down: the run is handed back to the queue at a batch boundary. */
export class WorkerStoppingError extends Error {
  constructor(runId: string) {
    super(`worker stopping; run ${runId} is handed back to the queue`);
    this.name = "WorkerStoppingError";
  }
}

/** pauseRun was asked for: the run stops at this batch boundary as PAUSED, resumable from its checkpoint. */
export class RunPausedError extends Error {
  constructor(runId: string) {
    super(`run ${runId} paused at a batch boundary`);
    this.name = "RunPausedError";
  }
}

export interface RunContextDeps {
  pool: pg.Pool;
  bus: EventBus;
  logger: Logger;
  connectorFactory: ConnectorFactory;
  /** Default DEFAULT_RUN_OPTIONS.importBatchSize. */
  importBatchSize?: number;
}

export interface ManagedRunContext extends RunContext {
  /** Close the connector, if the operation opened one. */
  release(): Promise<void>;
  /**
   * Why the run must stop now (cancel, pause, shutdown, lease lost), or null: for a wait that
   * ended on the abort signal outside a batch (e.g. a rate-limit sleep), which throws an AbortError.
   */
  interruption(): Promise<Error | null>;
}

/** The machinery's side of the engine contract (src/engine/run-context.ts). */
export function createRunContext(
  deps: RunContextDeps,
  lease: Lease,
  run: RunInfo,
  system: SystemInfo,
  config: Record<string, unknown>,
  control: { signal: AbortSignal; stopping(): boolean; partitions?: PartitionControl },
): ManagedRunContext {
  let connector: Promise<Connector> | null = null;
  const logger = deps.logger.child({ runId: run.id, operation: run.operation });

  /** Throws what stops the run at this boundary (lease lost, cancel, pause, shutdown), if anything. */
  const checkBoundary = async (client: pg.PoolClient) => {
    const current = await lockRun(client, run.id);
    if (!current || !holdsLease(current, lease)) throw new LeaseLostError(lease);
    if (current.status === "CANCELLING") throw new RunCancelledError(run.id);
    if (current.pause_requested) throw new RunPausedError(run.id);
    if (control.stopping()) throw new WorkerStoppingError(run.id);
    return current;
  };

  const batch = async (work: (tx: pg.PoolClient) => Promise<BatchOutcome>) => {
    await inTransaction(deps.pool, async (client) => {
      // The row lock orders this batch against cancelRun and recovery: both see it whole or not at all.
      const current = await checkBoundary(client);
      const outcome = await work(client);
      // Nothing of its own to lose: only the run row's lock, so its commit need not wait for a
      // WAL flush (10-90 ms each in a real-time burst, where a run had two such batches).
      if (outcome.empty) return commitWithoutFlushWait(client);
      const counts = outcome.counts ?? {};
      // The row stays locked until commit: its batch number, status and system are as read.
      const number = current.batch + 1;
      const events = [...(outcome.events ?? [])];
      if (counts.fetched) events.push({ type: RunEventType.recordsFetched, data: { count: counts.fetched, batch: number } });
      events.push({
        type: RunEventType.batchProcessed,
        data: { batch: number, phase: outcome.phase, processed: outcome.processed, total: outcome.total ?? null, counts },
      });
      const notifications = runChangedNotifications({
        id: run.id,
        connectedSystemId: current.connected_system_id,
        status: current.status,
      });
      await recordBatch(client, run.id, { ...outcome, counts }, { events, notifications });
    });
  };

  return {
    run,
    system,
    config,
    pool: deps.pool,
    logger,
    importBatchSize: deps.importBatchSize ?? DEFAULT_RUN_OPTIONS.importBatchSize,
    signal: control.signal,
    partitions: control.partitions,
    connector() {
      // Every call of every run goes at the system's pace and heeds its Retry-After.
      const limiter = new SystemRateLimiter({
        pool: deps.pool,
        systemId: system.id,
        limit: system.rateLimit,
        signal: control.signal,
      });
      connector ??= deps.connectorFactory(system.kind, config, { logger }).then((c) => rateLimited(c, limiter));
      return connector;
    },
    batch,
    async event(type, data) {
      await insertRunEvents(deps.pool, run.id, [{ type, data }]);
    },
    async publish(topic, payload, tx) {
      await deps.bus.publish(topic, payload, tx);
    },
    async interruption() {
      try {
        await inTransaction(deps.pool, checkBoundary);
        return null;
      } catch (e) {
        return e instanceof Error ? e : new Error(String(e));
      }
    },
    async release() {
      if (!connector) return;
      const opened = connector;
      connector = null;
      await opened.then((c) => c.close()).catch(() => {});
    },
  };
}
