import { DEFAULT_RETRY, type RetryPolicy } from "./retry.ts";

/** Timings of the run machinery; tests shrink them (heartbeat 250 ms, stale 2 s, retries 50 ms). */
export interface RunOptions {
  /** How often a live run's heartbeat is written. */
  heartbeatMs: number;
  /** A RUNNING/CANCELLING run whose heartbeat is older than this is orphaned (worker gone). */
  staleAfterMs: number;
  /** How often a worker looks for orphaned runs. */
  recoveryIntervalMs: number;
  /** Times an orphaned run is resumed before it is failed with WORKER_LOST. */
  maxRecoveries: number;
  retry: RetryPolicy;
  /** pg-boss poll floor; new jobs also wake workers at once through the event bus. */
  pollingIntervalSeconds: number;
  /** Runs one worker process executes at the same time. */
  concurrency: number;
  /** Connection test timeout in preflight. */
  connectionTestTimeoutMs: number;
  /** How often the scheduler looks for due schedules and finished sequence steps. */
  schedulerIntervalMs: number;
  /** Records per import batch (one transaction): connector pages are merged up to this many. */
  importBatchSize: number;
  /**
   * A FULL_SYNC of more objects than this is cut into partitions of this many that any worker
   * can claim (METASYNC_PARTITION_SIZE; 0: never). Default chosen by bench/partitions.ts.
   */
  partitionSize: number;
}

export const DEFAULT_RUN_OPTIONS: RunOptions = {
  heartbeatMs: 5_000,
  staleAfterMs: 30_000,
  recoveryIntervalMs: 10_000,
  maxRecoveries: 3,
  retry: DEFAULT_RETRY,
  pollingIntervalSeconds: 2,
  concurrency: 2,
  connectionTestTimeoutMs: 5_000,
  schedulerIntervalMs: 1_000,
  importBatchSize: 5_000,
  partitionSize: 10_000,
};

export function runOptions(overrides: Partial<RunOptions> = {}): RunOptions {
  return { ...DEFAULT_RUN_OPTIONS, ...overrides, retry: { ...DEFAULT_RUN_OPTIONS.retry, ...overrides.retry } };
}
