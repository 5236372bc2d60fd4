import type pg from "pg";
import type { Connector } from "../connectors/connector.ts";
import type { ConnectorKind, RunProfile } from "../generated/prisma/enums.ts";
import type { Logger } from "../logger.ts";
import type { RateLimit } from "./connected-system/rate-limiter.ts";

/**
 * The contract between the run machinery (src/jobs: start gate, pg-boss workers, heartbeat,
 * cancellation, progress) and the engine's operations (src/engine: import, sync, export).
 * The engine only sees this: no pg-boss, no GraphQL.
 */
export interface RunCounts {
  fetched: number;
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  failed: number;
  exportsQueued: number;
}

export interface BatchOutcome {
  /** Added to the run's counts in the same transaction as the batch's writes. */
  counts: Partial<RunCounts>;
  /** Objects processed so far in this run (absolute, not a delta). */
  processed: number;
  total?: number | null;
  /** e.g. "importing", "syncing", "planning exports", "exporting", "deleting obsolete" */
  phase: string;
  /** Where a resumed run continues from: committed with this batch's writes. */
  checkpoint: unknown;
  /** Run events written in the same transaction (seed 003: records fetched, batch processed...). */
  events?: { type: string; data?: Record<string, unknown> }[];
  /**
   * The batch found nothing to do and wrote nothing (e.g. an export claim that found no export):
   * no batch is recorded (no counts, progress, checkpoint, event or run change), the boundary
   * (cancel, pause, lease) was still checked. Each recorded batch costs a run update, an event
   * and two notifications, heard by every subscriber.
   */
  empty?: boolean;
}

export interface RunInfo {
  id: string;
  operation: string;
  profile: RunProfile;
  connectedSystemId: string;
  connectionSettingsId: string;
  dryRun: boolean;
  /** Checkpoint of the last committed batch when this run is resumed; null on a fresh start. */
  checkpoint: unknown | null;
  attempt: number;
}

export interface SystemInfo {
  id: string;
  name: string;
  /** The database enum connector_kind (prisma/schema.prisma) is the one list of kinds. */
  kind: ConnectorKind;
  deleteThreshold: number | null;
  /** Staging mode: exports are planned, never sent. */
  staging: boolean;
  /** Pace of calls to the system, shared by every worker (null: unlimited). */
  rateLimit: RateLimit | null;
}

export interface RunContext {
  readonly run: RunInfo;
  readonly system: SystemInfo;
  /** The pinned connection settings, secrets resolved. */
  readonly config: Record<string, unknown>;
  readonly pool: pg.Pool;
  readonly logger: Logger;
  /** Records per import batch: connector pages are merged up to this many (RunOptions.importBatchSize). */
  readonly importBatchSize: number;
  /**
   * Aborted when a cancel is requested or the worker shuts down. Long waits inside an operation
   * (connector calls, sleeps) may stop early on it; the next batch() throws either way.
   */
  readonly signal: AbortSignal;
  /** The system's connector built from the pinned config; closed by the machinery after the run. */
  connector(): Promise<Connector>;
  /**
   * Run `work` in one transaction with the run's counts, progress and checkpoint, then notify
   * subscribers after commit. Throws RunCancelledError (before starting `work`) once a cancel
   * was requested: a batch is never half applied.
   */
  batch(work: (tx: pg.PoolClient) => Promise<BatchOutcome>): Promise<void>;
  /** Record a run event outside a batch (e.g. a retry attempt). */
  event(type: string, data?: Record<string, unknown>): Promise<void>;
  /**
   * Tell subscribers in every process about committed changes (e.g. topic "pendingExports"
   * with { id, connectedSystemId, runId }); pass the batch's `tx` to deliver on its commit.
   */
  publish?(topic: string, payload: Record<string, unknown>, tx?: pg.PoolClient): Promise<void>;
  /**
   * Present when the machinery can spread this run over several workers (the operation has a
   * `partition` step, the run is not a dry run, METASYNC_PARTITION_SIZE > 0).
   */
  readonly partitions?: PartitionControl;
}

/** One slice of a partitioned run: connector space object ids in (afterId, toId]. */
export interface PartitionRange {
  /** null: from the first object. */
  afterId: string | null;
  /** null: to the last object. */
  toId: string | null;
  /** Objects in the range when it was cut. */
  size: number;
}

/**
 * The machinery's side of a partitioned run: the operation cuts its work into ranges, `run`
 * has every range processed (by this worker and any other that claims one, each with its own
 * checkpoint) and resolves once all are done. Called again after a resume, it continues the
 * ranges recorded the first time (the ones passed are then ignored).
 */
export interface PartitionControl {
  /** Objects per partition (METASYNC_PARTITION_SIZE). */
  readonly size: number;
  /** Resolves to the objects processed across all partitions. */
  run(ranges: PartitionRange[]): Promise<number>;
}

/**
 * An operation that can be partitioned: besides the whole run, it can process one range, in a
 * context whose checkpoint and batches are the partition's (any worker may call it).
 */
export interface PartitionedExecutor extends OperationExecutor {
  partition(ctx: RunContext, range: PartitionRange): Promise<void>;
}

/** An operation's batch work. Returning normally completes the run (PARTIAL when counts.failed > 0). */
export type OperationExecutor = (ctx: RunContext) => Promise<void>;

export class RunCancelledError extends Error {
  constructor(runId: string) {
    super(`run ${runId} was cancelled`);
    this.name = "RunCancelledError";
  }
}
