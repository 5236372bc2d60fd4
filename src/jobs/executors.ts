import { createImportExecutor } from "../engine/import/run-import.ts";
import { createExportExecutor } from "../engine/outbound/run-export.ts";
import { inboxSource } from "../engine/realtime/inbox-source.ts";
import { createRealtimeExecutor } from "../engine/realtime/run-realtime.ts";
import { createSyncExecutor } from "../engine/sync/run-sync.ts";
import type { ExecutorMap } from "./execute-run.ts";

/** Inbox entries per page of a REALTIME run (pages merge up to the import batch size). */
const REALTIME_PAGE = 1000;

/**
 * The engine's operations, by operation type: what `metasync serve` and `metasync worker` run.
 * Each is an `OperationExecutor` (src/engine/run-context.ts) doing its batch work through
 * `ctx.batch`. A run whose operation has no executor ends FAILED with reasonCode OPERATION_UNAVAILABLE.
 */
export const defaultExecutors: ExecutorMap = {
  "connector.full_import": createImportExecutor("full"),
  "connector.delta_import": createImportExecutor("delta"),
  "connector.full_sync": createSyncExecutor("full"),
  "connector.delta_sync": createSyncExecutor("delta"),
  "connector.export": createExportExecutor(),
  "connector.realtime": createRealtimeExecutor([
    createImportExecutor("delta", inboxSource(REALTIME_PAGE)),
    createSyncExecutor("delta"),
  ]),
};
