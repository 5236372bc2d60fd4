import type pg from "pg";
import type { Attributes } from "../../connectors/connector.ts";
import { objectKey } from "../connector-space/store.ts";

type Q = Pick<pg.PoolClient, "query">;

/** What an import needs to know of an object it meets again. */
export interface StoredObject {
  id: string;
  contentHash: string;
  dn: string | null;
  /**
   * OBSOLETE: marked deleted by an earlier import, meeting it again revives it.
   * PENDING_PROVISIONING: a placeholder whose content no import or export stored.
   */
  status: "NORMAL" | "OBSOLETE" | "PENDING_PROVISIONING";
  /** Last written by the import run looking it up (met twice in one run: a duplicate). */
  writtenByRun: boolean;
}

/**
 * The stored rows of a page's objects, by objectKey: one indexed query per page.
 * `= ANY(array)` on both key columns is a single index scan of the unique key whatever the
 * table's size or statistics; pairs crossing two object types of one page are dropped here.
 * Rows come back as arrays of what the import compares, flags computed by PostgreSQL: this
 * runs for every imported object, and each column is a string to parse and collect.
 */
export async function lookupObjects(
  tx: Q,
  systemId: string,
  runId: string,
  page: Map<string, { object: { objectType: string; anchor: string } }>,
): Promise<Map<string, StoredObject>> {
  const types = new Set<string>();
  const anchors: string[] = [];
  for (const { object } of page.values()) {
    types.add(object.objectType);
    anchors.push(object.anchor);
  }
  // One object type (the usual page): the key's type is known, no need to read it per row.
  const [only] = types.size === 1 ? types : [null];
  const { rows } = await tx.query<[string, string, string, string | null, StoredObject["status"], boolean, string]>({
    text: `SELECT c.anchor, c.id, c.content_hash, c.distinguished_name, c.status,
                  coalesce(c.last_import_run_id = $4::uuid, false)${only === null ? ", c.object_type" : ""}
             FROM connector_space_object c
            WHERE c.connected_system_id = $1 AND c.object_type = ANY($2::text[]) AND c.anchor = ANY($3::text[])`,
    values: [systemId, [...types], anchors, runId],
    rowMode: "array",
  });
  const found = new Map<string, StoredObject>();
  for (const [anchor, id, contentHash, dn, status, writtenByRun, objectType] of rows) {
    const key = objectKey(only ?? objectType, anchor);
    if (page.has(key)) found.set(key, { id, contentHash, dn, status, writtenByRun });
  }
  return found;
}

/** Whether the system's connector space holds any object (of any status). */
export async function hasObjects(q: Q, systemId: string): Promise<boolean> {
  const { rows } = await q.query<{ found: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM connector_space_object WHERE connected_system_id = $1) AS found",
    [systemId],
  );
  return rows[0]!.found;
}

export async function loadAttributes(tx: Q, ids: string[]): Promise<Map<string, Attributes>> {
  if (ids.length === 0) return new Map();
  const { rows } = await tx.query<{ id: string; attributes: Attributes }>(
    "SELECT id, attributes FROM connector_space_object WHERE id = ANY($1::uuid[])",
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.attributes]));
}

/** Objects per queue row: about one delta sync batch. */
const QUEUE_ROW = 1000;

/** Queue objects for the next delta sync: a row per QUEUE_ROW objects, their ids in an array, in one statement. */
export async function queueForSync(tx: Q, systemId: string, runId: string, ids: string[]) {
  if (ids.length === 0) return;
  await tx.query(
    `INSERT INTO cso_change (connected_system_id, connector_space_object_ids, run_id)
     SELECT $1, array_agg(t.id ORDER BY t.n), $3 FROM unnest($2::uuid[]) WITH ORDINALITY AS t(id, n)
      GROUP BY (t.n - 1) / $4 ORDER BY min(t.n)`,
    [systemId, ids, runId, QUEUE_ROW],
  );
}

export async function saveWatermark(tx: Q, systemId: string, watermark: unknown, mode: "full" | "delta") {
  await tx.query(
    `INSERT INTO connector_import_state (id, connected_system_id, object_type, watermark, last_full_import_at, last_delta_import_at, updated_at)
     VALUES (gen_random_uuid(), $1, '', $2::jsonb, CASE WHEN $3 = 'full' THEN now() END, CASE WHEN $3 = 'delta' THEN now() END, now())
     ON CONFLICT (connected_system_id, object_type) DO UPDATE
       SET watermark = EXCLUDED.watermark,
           last_full_import_at = COALESCE(EXCLUDED.last_full_import_at, connector_import_state.last_full_import_at),
           last_delta_import_at = COALESCE(EXCLUDED.last_delta_import_at, connector_import_state.last_delta_import_at),
           updated_at = now()`,
    [systemId, watermark === undefined ? null : JSON.stringify(watermark), mode],
  );
}

export async function loadWatermark(q: Q, systemId: string): Promise<unknown | null> {
  const { rows } = await q.query<{ watermark: unknown }>(
    "SELECT watermark FROM connector_import_state WHERE connected_system_id = $1 AND object_type = ''",
    [systemId],
  );
  return rows[0]?.watermark ?? null;
}

/** A full import's pages of objects seen unchanged (see seen.ts). */
export async function loadSeenPages(q: Q, runId: string): Promise<{ page: number; ids: string[] }[]> {
  const { rows } = await q.query<{ page: number; ids: string[] }>(
    "SELECT page, connector_space_object_ids AS ids FROM import_seen_page WHERE run_id = $1",
    [runId],
  );
  return rows;
}

/** Which of `ids` the run's seen pages hold. */
export async function seenAmong(q: Q, runId: string, ids: string[]): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    `SELECT DISTINCT x AS id FROM import_seen_page s, unnest(s.connector_space_object_ids) AS x
      WHERE s.run_id = $1 AND x = ANY($2::uuid[])`,
    [runId, ids],
  );
  return rows.map((r) => r.id);
}

export async function insertSeenPage(q: Q, runId: string, page: number, ids: string[]) {
  // Ids are plain UUIDs: the array literal needs no quoting.
  await q.query("INSERT INTO import_seen_page (run_id, page, connector_space_object_ids) VALUES ($1, $2, $3::uuid[])", [
    runId,
    page,
    `{${ids.join(",")}}`,
  ]);
}

export async function clearSeen(q: Q, runId: string) {
  await q.query("DELETE FROM import_seen_page WHERE run_id = $1", [runId]);
}
