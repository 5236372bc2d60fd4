import type pg from "pg";
import type { Attributes } from "../../connectors/connector.ts";
import { copyRows } from "../copy.ts";
import { timeOrderedId } from "../time-ordered-id.ts";

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

export interface NewObject {
  objectType: string;
  anchor: string;
  dn: string | null;
  attributes: Attributes;
  hash: string;
}

export const objectKey = (objectType: string, anchor: string) => `${objectType}\u0000${anchor}`;

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

export async function loadAttributes(tx: Q, ids: string[]): Promise<Map<string, Attributes>> {
  if (ids.length === 0) return new Map();
  const { rows } = await tx.query<{ id: string; attributes: Attributes }>(
    "SELECT id, attributes FROM connector_space_object WHERE id = ANY($1::uuid[])",
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.attributes]));
}

/**
 * Insert new objects with COPY; returns their ids by objectKey. Ids are chosen here so that no
 * RETURNING round trip is needed; an anchor stored meanwhile still fails on the unique key.
 */
export async function insertObjects(tx: Q, systemId: string, runId: string, objects: NewObject[]): Promise<Map<string, string>> {
  if (objects.length === 0) return new Map();
  const ids = new Map<string, string>();
  const now = new Date().toISOString();
  await copyRows(
    tx,
    "connector_space_object",
    [
      "id",
      "connected_system_id",
      "object_type",
      "anchor",
      "distinguished_name",
      "attributes",
      "content_hash",
      "status",
      "last_import_run_id",
      "imported_at",
    ],
    objects,
    (o) => {
      const id = timeOrderedId();
      ids.set(objectKey(o.objectType, o.anchor), id);
      return [id, systemId, o.objectType, o.anchor, o.dn, JSON.stringify(o.attributes), o.hash, "NORMAL", runId, now];
    },
  );
  return ids;
}

/** Overwrite changed objects (and revive obsolete ones seen again). */
export async function updateObjects(
  tx: Q,
  runId: string,
  rows: { id: string; dn: string | null; attributes: Attributes; hash: string }[],
) {
  if (rows.length === 0) return;
  await tx.query(
    `UPDATE connector_space_object c
        SET attributes = t.attrs::jsonb, content_hash = t.hash, distinguished_name = t.dn, status = 'NORMAL',
            obsoleted_at = NULL, last_import_run_id = $1, imported_at = now(), updated_at = now()
       FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[]) AS t(id, dn, attrs, hash)
      WHERE c.id = t.id`,
    [runId, rows.map((r) => r.id), rows.map((r) => r.dn), rows.map((r) => JSON.stringify(r.attributes)), rows.map((r) => r.hash)],
  );
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

/** Delta deletes: mark the named objects obsolete; returns the rows affected. */
export async function obsoleteByAnchors(tx: Q, systemId: string, keys: { objectType: string; anchor: string }[]) {
  if (keys.length === 0) return [];
  const { rows } = await tx.query<{ id: string; anchor: string }>(
    `UPDATE connector_space_object c SET status = 'OBSOLETE', obsoleted_at = now(), updated_at = now()
       FROM unnest($2::text[], $3::text[]) AS k(object_type, anchor)
      WHERE c.connected_system_id = $1 AND c.object_type = k.object_type AND c.anchor = k.anchor AND c.status = 'NORMAL'
      RETURNING c.id, c.anchor`,
    [systemId, keys.map((k) => k.objectType), keys.map((k) => k.anchor)],
  );
  return rows;
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
