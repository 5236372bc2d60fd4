import type pg from "pg";

/**
 * The rate-limit buckets of connected systems (rate_limit_bucket rows), shared by every worker
 * process and every machine: the database's clock refills them, so no two clocks disagree.
 */

type Q = Pick<pg.Pool, "query">;

export type BucketKind = "requests" | "objects";

export interface BucketLimit {
  kind: BucketKind;
  /** Tokens added back per second. */
  rate: number;
  /** Most tokens a bucket holds: how much may go at once after a quiet spell. */
  burst: number;
  /** Tokens this call uses. */
  take: number;
}

/**
 * Takes the tokens of each limit in one statement and answers how long the caller must wait
 * before going ahead (0: now). A bucket may go into debt: the caller reserves its place in
 * line at once and sleeps the debt off, so concurrent takers on several workers queue behind
 * each other without polling. A target's Retry-After (blocked_until) adds to the wait.
 */
export async function takeTokens(q: Q, systemId: string, limits: BucketLimit[]): Promise<number> {
  let wait = 0;
  for (const limit of limits) {
    const { rows } = await q.query<{ tokens: number }>(
      `INSERT INTO rate_limit_bucket AS b (connected_system_id, kind, tokens, updated_at)
       VALUES ($1, $2, $4::float8 - $5::float8, clock_timestamp())
       ON CONFLICT (connected_system_id, kind) DO UPDATE SET
         tokens = LEAST($4::float8, b.tokens + $3::float8 * EXTRACT(EPOCH FROM clock_timestamp() - b.updated_at)::float8)
                  - $5::float8,
         updated_at = clock_timestamp()
       RETURNING tokens`,
      [systemId, limit.kind, limit.rate, limit.burst, limit.take],
    );
    const tokens = rows[0]!.tokens;
    if (tokens < 0) wait = Math.max(wait, (-tokens / limit.rate) * 1000);
  }
  // A target's Retry-After holds every caller, whatever the system limits.
  return Math.max(wait, await blockedMs(q, systemId));
}

/** Milliseconds left of the longest Retry-After recorded for the system (0: none). */
async function blockedMs(q: Q, systemId: string): Promise<number> {
  const { rows } = await q.query<{ wait_ms: number | null }>(
    `SELECT GREATEST(MAX(EXTRACT(EPOCH FROM blocked_until - clock_timestamp()) * 1000), 0)::float8 AS wait_ms
       FROM rate_limit_bucket WHERE connected_system_id = $1 AND blocked_until IS NOT NULL`,
    [systemId],
  );
  return rows[0]?.wait_ms ?? 0;
}

/** A target said "not before ms from now": every worker's next call to the system waits until then. */
export async function blockFor(q: Q, systemId: string, ms: number): Promise<void> {
  await q.query(
    `INSERT INTO rate_limit_bucket AS b (connected_system_id, kind, tokens, updated_at, blocked_until)
     VALUES ($1, 'requests', 0, clock_timestamp(), clock_timestamp() + make_interval(secs => $2::float8 / 1000))
     ON CONFLICT (connected_system_id, kind) DO UPDATE
       SET blocked_until = GREATEST(b.blocked_until, excluded.blocked_until)`,
    [systemId, ms],
  );
}
