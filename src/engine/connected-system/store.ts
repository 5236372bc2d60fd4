import type pg from "pg";

/** The engine's reads and writes of connected_system rows (the API writes the rest with Prisma). */

type Q = Pick<pg.PoolClient, "query">;

/** Each system's delete threshold (null: none), for planning. */
export async function deleteThresholds(q: Q): Promise<Map<string, number | null>> {
  const { rows } = await q.query<{ id: string; delete_threshold: number | null }>(
    "SELECT id, delete_threshold FROM connected_system",
  );
  return new Map(rows.map((r) => [r.id, r.delete_threshold]));
}

/** The schema fingerprint every stored object of the system was last validated against, if any. */
export async function validatedSchemaHash(q: Q, systemId: string): Promise<string | null> {
  const { rows } = await q.query<{ hash: string | null }>(
    "SELECT validated_schema_hash AS hash FROM connected_system WHERE id = $1",
    [systemId],
  );
  return rows[0]?.hash ?? null;
}

export async function setValidatedSchemaHash(q: Q, systemId: string, fingerprint: string): Promise<void> {
  await q.query("UPDATE connected_system SET validated_schema_hash = $2 WHERE id = $1", [systemId, fingerprint]);
}

export async function clearValidatedSchemaHash(q: Q, systemId: string): Promise<void> {
  await q.query("UPDATE connected_system SET validated_schema_hash = NULL WHERE id = $1 AND validated_schema_hash IS NOT NULL", [
    systemId,
  ]);
}
