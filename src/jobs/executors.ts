import type { ExecutorMap } from "./execute-run.ts";

/**
 * The engine's operations, by operation type: what `metasync serve` and `metasync worker` run.
 * Plug an operation in by adding its executor here (an `OperationExecutor` from
 * src/engine/run-context.ts doing its batch work through `ctx.batch`). A run whose operation has
 * no executor ends FAILED with reasonCode OPERATION_UNAVAILABLE.
 */
export const defaultExecutors: ExecutorMap = {};
