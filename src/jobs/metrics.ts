import type pg from "pg";
import { aggregateRuns } from "./run-metrics-store.ts";

export interface RunMetrics {
  /** Runs that ended (not counting BLOCKED starts, which never ran). */
  finished: number;
  completed: number;
  partial: number;
  failed: number;
  cancelled: number;
  blocked: number;
  active: number;
  /** COMPLETED / finished, 0..1; null when nothing finished. */
  successRate: number | null;
  averageDurationSeconds: number | null;
  /** Objects processed per second of run time, over the finished runs. */
  throughputPerSecond: number | null;
  objectsProcessed: number;
}

/** Aggregates straight from run rows: counts and timings are columns, written with each batch. */
export async function runMetrics(
  pool: pg.Pool,
  filter: { connectedSystemId?: string | null; operation?: string | null; since?: Date | null },
): Promise<RunMetrics> {
  const r = await aggregateRuns(pool, filter);
  const n = (k: string) => Number(r[k] ?? 0);
  const finished = n("finished");
  const totalSeconds = r.total_seconds === null || r.total_seconds === undefined ? null : Number(r.total_seconds);
  return {
    finished,
    completed: n("completed"),
    partial: n("partial"),
    failed: n("failed"),
    cancelled: n("cancelled"),
    blocked: n("blocked"),
    active: n("active"),
    successRate: finished ? n("completed") / finished : null,
    averageDurationSeconds: r.avg_seconds === null || r.avg_seconds === undefined ? null : Number(r.avg_seconds),
    throughputPerSecond: totalSeconds && totalSeconds > 0 ? n("processed") / totalSeconds : null,
    objectsProcessed: n("processed"),
  };
}
