// Whether every burst push was applied exactly once, read from the product's own records after the
// burst drained: one inbox entry per push, all applied; one connector-space object, one CSO_ADDED
// change and one identity per anchor; one CREATE per object, exported; one directory entry each.
// A worker killed mid-burst (bench/realtime.ts --kill-at-ms) must leave every figure equal to the
// burst's size: a duplicate shows as n above distinct, a loss as distinct below it.
import type pg from "pg";

export interface OnceCount {
  what: string;
  n: number;
  distinct: number;
}

/** Counts for the burst's anchors (those starting with `prefix`) in the source and target systems. */
export async function countBurstEffects(
  pool: pg.Pool,
  ids: { source: string; target: string },
  prefix: string,
  directoryEntries: number,
): Promise<OnceCount[]> {
  const like = `${prefix}%`;
  const one = async (what: string, sql: string, params: unknown[]): Promise<OnceCount> => {
    const { rows } = await pool.query<{ n: number; distinct: number }>(sql, params);
    return { what, n: rows[0]!.n, distinct: rows[0]!.distinct };
  };
  return [
    await one(
      "inbox entries applied",
      `SELECT count(*) FILTER (WHERE applied_at IS NOT NULL)::int AS n, count(DISTINCT anchor)::int AS distinct
         FROM inbox_entry WHERE connected_system_id = $1 AND anchor LIKE $2`,
      [ids.source, like],
    ),
    await one(
      "connector-space objects",
      `SELECT count(*)::int AS n, count(DISTINCT anchor)::int AS distinct
         FROM connector_space_object WHERE connected_system_id = $1 AND anchor LIKE $2`,
      [ids.source, like],
    ),
    await one(
      "CSO_ADDED changes",
      `SELECT count(*)::int AS n, count(DISTINCT c.anchor)::int AS distinct
         FROM run_change c JOIN run r ON r.id = c.run_id
        WHERE r.connected_system_id = $1 AND c.change_type = 'CSO_ADDED' AND c.anchor LIKE $2`,
      [ids.source, like],
    ),
    await one(
      "identities",
      `SELECT count(*)::int AS n, count(DISTINCT attributes->>'employeeId')::int AS distinct
         FROM metaverse_object WHERE attributes->>'employeeId' LIKE $1`,
      [like],
    ),
    await one(
      "CREATEs exported",
      `SELECT count(*) FILTER (WHERE pe.status IN ('EXPORTED', 'CONFIRMED'))::int AS n,
              count(DISTINCT pe.metaverse_object_id)::int AS distinct
         FROM connector_space_object c
         JOIN pending_export pe ON pe.metaverse_object_id = c.metaverse_object_id
                               AND pe.connected_system_id = $3 AND pe.change_type = 'CREATE'
        WHERE c.connected_system_id = $1 AND c.anchor LIKE $2`,
      [ids.source, like, ids.target],
    ),
    { what: "directory entries", n: directoryEntries, distinct: directoryEntries },
  ];
}

/** True when every count is the burst's size, n and distinct alike. */
export function exactlyOnce(counts: OnceCount[], expected: number): boolean {
  return counts.every((c) => c.n === expected && c.distinct === expected);
}

export function describeCounts(counts: OnceCount[]): string {
  return counts.map((c) => `${c.what} ${c.n}${c.n === c.distinct ? "" : ` (${c.distinct} distinct)`}`).join(", ");
}
