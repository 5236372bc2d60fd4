import type pg from "pg";
import type { Connector } from "../connectors/connector.ts";
import type { ConnectorFactory } from "../connectors/deps.ts";
import { inTransaction } from "../db/transaction.ts";
import { type BatchOutcome, RunCancelledError, type RunContext, type RunInfo, type SystemInfo } from "../engine/run-context.ts";
import type { EventBus } from "../events/bus.ts";
import type { Logger } from "../logger.ts";
import { DEFAULT_RUN_OPTIONS } from "./options.ts";
import { insertRunEvents, publishRunChanged, RunEventType } from "./progress.ts";

/** Who may write a run: the worker that claimed it, for that claim (attempt) only. */
export interface Lease {
  runId: string;
  attempt: number;
  workerId: string;
}

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
}

const COUNT_COLUMNS = [
  ["fetched", "fetched"],
  ["created", "created"],
  ["updated", "updated"],
  ["deleted", "deleted"],
  ["unchanged", "unchanged"],
  ["failed", "failed"],
  ["exportsQueued", "exports_queued"],
] as const;

/** The machinery's side of the engine contract (src/engine/run-context.ts). */
export function createRunContext(
  deps: RunContextDeps,
  lease: Lease,
  run: RunInfo,
  system: SystemInfo,
  config: Record<string, unknown>,
  control: { signal: AbortSignal; stopping(): boolean },
): ManagedRunContext {
  let connector: Promise<Connector> | null = null;
  const logger = deps.logger.child({ runId: run.id, operation: run.operation });

  const batch = async (work: (tx: pg.PoolClient) => Promise<BatchOutcome>) => {
    await inTransaction(deps.pool, async (client) => {
      // The row lock orders this batch against cancelRun and recovery: both see it whole or not at all.
      const { rows } = await client.query<{ status: string; attempt: number; worker_id: string | null }>(
        "SELECT status::text AS status, attempt, worker_id FROM run WHERE id = $1 FOR UPDATE",
        [run.id],
      );
      const current = rows[0];
      if (!current || current.attempt !== lease.attempt || current.worker_id !== lease.workerId) throw new LeaseLostError(lease);
      if (current.status === "CANCELLING") throw new RunCancelledError(run.id);
      if (control.stopping()) throw new WorkerStoppingError(run.id);
      const outcome = await work(client);
      const counts = outcome.counts ?? {};
      const sets = COUNT_COLUMNS.map(([, column], i) => `${column} = ${column} + $${i + 2}`).join(", ");
      const values = COUNT_COLUMNS.map(([key]) => Math.trunc(counts[key] ?? 0));
      const { rows: updated } = await client.query<{ batch: number; connected_system_id: string; status: string }>(
        `UPDATE run SET ${sets}, phase = $9, processed = $10, total = $11, checkpoint = $12::jsonb, batch = batch + 1,
           progress_updated_at = now(), heartbeat_at = now()
         WHERE id = $1 RETURNING batch, connected_system_id, status::text AS status`,
        [
          run.id,
          ...values,
          outcome.phase,
          Math.trunc(outcome.processed),
          outcome.total ?? null,
          JSON.stringify(outcome.checkpoint ?? null),
        ],
      );
      const row = updated[0]!;
      const events = [...(outcome.events ?? [])];
      if (counts.fetched) events.push({ type: RunEventType.recordsFetched, data: { count: counts.fetched, batch: row.batch } });
      events.push({
        type: RunEventType.batchProcessed,
        data: { batch: row.batch, phase: outcome.phase, processed: outcome.processed, total: outcome.total ?? null, counts },
      });
      await insertRunEvents(client, run.id, events);
      await publishRunChanged(deps.bus, { id: run.id, connectedSystemId: row.connected_system_id, status: row.status }, client);
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
    connector() {
      connector ??= deps.connectorFactory(system.kind, config, { logger });
      return connector;
    },
    batch,
    async event(type, data) {
      await insertRunEvents(deps.pool, run.id, [{ type, data }]);
    },
    async publish(topic, payload, tx) {
      await deps.bus.publish(topic, payload, tx);
    },
    async release() {
      if (!connector) return;
      const opened = connector;
      connector = null;
      await opened.then((c) => c.close()).catch(() => {});
    },
  };
}
