import type pg from "pg";

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
  const { rows } = await pool.query<Record<string, string | null>>(
    `SELECT
       count(*) FILTER (WHERE status IN ('COMPLETED','PARTIAL','FAILED','CANCELLED')) AS finished,
       count(*) FILTER (WHERE status = 'COMPLETED') AS completed,
       count(*) FILTER (WHERE status = 'PARTIAL') AS partial,
       count(*) FILTER (WHERE status = 'FAILED') AS failed,
       count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled,
       count(*) FILTER (WHERE status = 'BLOCKED') AS blocked,
       count(*) FILTER (WHERE status IN ('QUEUED','RUNNING','CANCELLING')) AS active,
       avg(extract(epoch FROM finished_at - started_at)) FILTER (WHERE started_at IS NOT NULL AND finished_at IS NOT NULL) AS avg_seconds,
       sum(extract(epoch FROM finished_at - started_at)) FILTER (WHERE started_at IS NOT NULL AND finished_at IS NOT NULL) AS total_seconds,
       coalesce(sum(processed) FILTER (WHERE started_at IS NOT NULL AND finished_at IS NOT NULL), 0) AS processed
     FROM run
     WHERE ($1::uuid IS NULL OR connected_system_id = $1) AND ($2::text IS NULL OR operation = $2)
       AND ($3::timestamp IS NULL OR created_at >= $3)`,
    [filter.connectedSystemId ?? null, filter.operation ?? null, filter.since ?? null],
  );
  const r = rows[0] ?? {};
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
