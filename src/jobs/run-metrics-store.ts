import type { QueryClient } from "./run-store.ts";

/** Read-only aggregates over the run table for the metrics endpoint and the runMetrics query. */

/** Runs by status and profile (metrics gauge). */
export async function countRunsByStatusAndProfile(
  client: QueryClient,
): Promise<{ status: string; profile: string; n: number }[]> {
  const { rows } = await client.query<{ status: string; profile: string; n: string }>(
    "SELECT status, profile, count(*) AS n FROM run GROUP BY status, profile",
  );
  return rows.map((r) => ({ status: r.status, profile: r.profile, n: Number(r.n) }));
}

/** Objects processed, summed over runs by profile and phase (metrics gauge). */
export async function sumProcessedByProfileAndPhase(
  client: QueryClient,
): Promise<{ profile: string; phase: string; n: number }[]> {
  const { rows } = await client.query<{ profile: string; phase: string; n: string }>(
    "SELECT profile, phase, sum(processed) AS n FROM run GROUP BY profile, phase",
  );
  return rows.map((r) => ({ profile: r.profile, phase: r.phase, n: Number(r.n) }));
}

/**
 * Counts and timings over the runs matching `filter`, as numeric strings (null when no run
 * qualifies): finished, completed, partial, failed, cancelled, blocked, active, avg_seconds,
 * total_seconds, processed. Counts and timings are columns written with each batch.
 */
export async function aggregateRuns(
  client: QueryClient,
  filter: { connectedSystemId?: string | null; operation?: string | null; since?: Date | null },
): Promise<Record<string, string | null>> {
  const { rows } = await client.query<Record<string, string | null>>(
    `SELECT
       count(*) FILTER (WHERE status IN ('COMPLETED','PARTIAL','FAILED','CANCELLED')) AS finished,
       count(*) FILTER (WHERE status = 'COMPLETED') AS completed,
       count(*) FILTER (WHERE status = 'PARTIAL') AS partial,
       count(*) FILTER (WHERE status = 'FAILED') AS failed,
       count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled,
       count(*) FILTER (WHERE status = 'BLOCKED') AS blocked,
       count(*) FILTER (WHERE status IN ('QUEUED','RUNNING','CANCELLING','PAUSED')) AS active,
       avg(extract(epoch FROM finished_at - started_at)) FILTER (WHERE started_at IS NOT NULL AND finished_at IS NOT NULL) AS avg_seconds,
       sum(extract(epoch FROM finished_at - started_at)) FILTER (WHERE started_at IS NOT NULL AND finished_at IS NOT NULL) AS total_seconds,
       coalesce(sum(processed) FILTER (WHERE started_at IS NOT NULL AND finished_at IS NOT NULL), 0) AS processed
     FROM run
     WHERE ($1::uuid IS NULL OR connected_system_id = $1) AND ($2::text IS NULL OR operation = $2)
       AND ($3::timestamp IS NULL OR created_at >= $3)`,
    [filter.connectedSystemId ?? null, filter.operation ?? null, filter.since ?? null],
  );
  return rows[0] ?? {};
}
