import type pg from "pg";
import type { AlertRaiser } from "../alerts/raise.ts";
import type { ConnectorFactory } from "../connectors/deps.ts";
import type { OperationExecutor, RunInfo, SystemInfo } from "../engine/run-context.ts";
import type { EventBus } from "../events/bus.ts";
import type { Logger } from "../logger.ts";
import type { ConnectedSystems } from "../systems/connected-systems.ts";
import type { OperationType } from "./operations.ts";
import type { RunOptions } from "./options.ts";
import type { RunQueue } from "./queue.ts";
import type { ClaimedRun } from "./run-store.ts";

// What executing a run or a partition needs (execute-run.ts, partitions.ts).

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
  /** Raises the run's alerts (FAILED, PARTIAL, exports in ERROR, holds) with its final status. */
  alerts?: AlertRaiser;
}

export async function readSystem(deps: Pick<ExecuteDeps, "pool">, id: string): Promise<SystemInfo | undefined> {
  const { rows } = await deps.pool.query<SystemInfo>(
    `SELECT id, name, kind::text AS kind, delete_threshold AS "deleteThreshold", staging,
            rate_limit AS "rateLimit" FROM connected_system WHERE id = $1`,
    [id],
  );
  return rows[0];
}

/** The run as the engine sees it (RunInfo), from its claimed row and the checkpoint to resume from. */
export function runInfo(
  run: Pick<
    ClaimedRun,
    "id" | "operation" | "profile" | "connected_system_id" | "connection_settings_id" | "dry_run" | "attempt"
  >,
  checkpoint: unknown,
): RunInfo {
  return {
    id: run.id,
    operation: run.operation,
    profile: run.profile,
    connectedSystemId: run.connected_system_id,
    connectionSettingsId: run.connection_settings_id,
    dryRun: run.dry_run,
    checkpoint: checkpoint ?? null,
    attempt: run.attempt,
  };
}
