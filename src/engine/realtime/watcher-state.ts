import type pg from "pg";

type Q = Pick<pg.PoolClient, "query">;

/** A watcher's saved position in its source (null: none yet). */
export async function loadWatcherPosition(q: Q, systemId: string): Promise<unknown | null> {
  const { rows } = await q.query<{ position: unknown }>("SELECT position FROM watcher_state WHERE connected_system_id = $1", [
    systemId,
  ]);
  return rows[0]?.position ?? null;
}

/** In the transaction that pushed what was read up to `position`. */
export async function saveWatcherPosition(tx: Q, systemId: string, position: unknown): Promise<void> {
  await tx.query(
    `INSERT INTO watcher_state (connected_system_id, position, updated_at) VALUES ($1, $2::jsonb, clock_timestamp())
     ON CONFLICT (connected_system_id) DO UPDATE SET position = EXCLUDED.position, updated_at = EXCLUDED.updated_at`,
    [systemId, JSON.stringify(position)],
  );
}
