import type pg from "pg";
import type { Attributes } from "../../connectors/connector.ts";
import { copyRows } from "../copy.ts";
import { timeOrderedId } from "../time-ordered-id.ts";

/**
 * The one writer of connector_space_object: every statement that inserts, updates or deletes
 * a connector space object is here, one operation per function, so what may change an object
 * (and how cheaply, in bulk) reads in one place. Imports, syncs, planning and export runs call
 * these; a few reads that belong to those writes sit beside them.
 */

type Q = Pick<pg.PoolClient, "query">;

export type ObjectStatus = "NORMAL" | "OBSOLETE" | "PENDING_PROVISIONING";
export type JoinType = "PROJECTED" | "JOINED" | "PROVISIONED";

/** The key of an object within its system: type and anchor. */
export const objectKey = (objectType: string, anchor: string) => `${objectType}\u0000${anchor}`;

/** A row as first written: by an import, or as a placeholder planned for provisioning. */
export interface NewRow {
  id: string;
  systemId: string;
  objectType: string;
  anchor: string;
  dn: string | null;
  attributes: Attributes;
  /** The attributes as JSON when the caller has them so already (see ConnectorObject.attributesJson). */
  attributesJson?: string;
  hash: string;
  status: "NORMAL" | "PENDING_PROVISIONING";
  joinType: JoinType | null;
  mvoId: string | null;
  joinedAt: string | null;
  importRunId: string | null;
  importedAt: string | null;
}

const COLUMNS = [
  "id",
  "connected_system_id",
  "object_type",
  "anchor",
  "distinguished_name",
  "attributes",
  "content_hash",
  "status",
  "join_type",
  "metaverse_object_id",
  "joined_at",
  "last_import_run_id",
  "imported_at",
];

/**
 * The COPY writer (see copy.ts for why COPY): each item becomes a row only as it is sent. The
 * columns one kind of object leaves empty are sent as NULL, which is also their default.
 */
async function copyObjects<T>(tx: Q, items: Iterable<T>, toRow: (item: T) => NewRow) {
  await copyRows(tx, "connector_space_object", COLUMNS, items, (item) => {
    const r = toRow(item);
    return [
      r.id,
      r.systemId,
      r.objectType,
      r.anchor,
      r.dn,
      r.attributesJson ?? JSON.stringify(r.attributes),
      r.hash,
      r.status,
      r.joinType,
      r.mvoId,
      r.joinedAt,
      r.importRunId,
      r.importedAt,
    ];
  });
}

export interface NewObject {
  objectType: string;
  anchor: string;
  dn: string | null;
  attributes: Attributes;
  attributesJson?: string;
  hash: string;
}

/**
 * Insert objects an import found new; returns their ids by objectKey. Ids are chosen here so
 * that no RETURNING round trip is needed; an anchor stored meanwhile still fails on the unique key.
 */
export async function insertImported(tx: Q, systemId: string, runId: string, objects: NewObject[]): Promise<Map<string, string>> {
  if (objects.length === 0) return new Map();
  const ids = new Map<string, string>();
  const now = new Date().toISOString();
  await copyObjects(tx, objects, (o) => {
    const id = timeOrderedId();
    ids.set(objectKey(o.objectType, o.anchor), id);
    return {
      id,
      systemId,
      objectType: o.objectType,
      anchor: o.anchor,
      dn: o.dn,
      attributes: o.attributes,
      attributesJson: o.attributesJson,
      hash: o.hash,
      status: "NORMAL",
      joinType: null,
      mvoId: null,
      joinedAt: null,
      importRunId: runId,
      importedAt: now,
    };
  });
  return ids;
}

export type NewPlaceholder = Pick<
  NewRow,
  "id" | "systemId" | "objectType" | "anchor" | "dn" | "attributes" | "attributesJson" | "hash"
> & {
  mvoId: string;
};

/** Objects planned for provisioning: joined to their identity, awaiting their export. */
export async function insertPlaceholders(tx: Q, rows: NewPlaceholder[]) {
  if (!rows.length) return;
  const joinedAt = new Date().toISOString();
  await copyObjects(tx, rows, (r) => ({
    ...r,
    status: "PENDING_PROVISIONING",
    joinType: "PROVISIONED",
    joinedAt,
    importRunId: null,
    importedAt: null,
  }));
}

/**
 * Objects' attributes (JSON texts) as one JSON array parameter, the n-th row's taken by index in
 * SQL. As a text[] parameter, pg escapes every quote of every text into an array literal, one
 * string concatenation per value: a confirming import of 10 groups of 100,000 members built a
 * chain of 1.6 million strings (~50 MB) on top of the 15 MB of JSON it was sending.
 */
const jsonArray = (texts: string[]) => `[${texts.join(",")}]`;

/** Overwrite objects an import found changed (and revive obsolete ones seen again). */
export async function updateImported(
  tx: Q,
  runId: string,
  rows: { id: string; dn: string | null; attributes: Attributes; attributesJson?: string; hash: string }[],
) {
  if (rows.length === 0) return;
  await tx.query(
    `UPDATE connector_space_object c
        SET attributes = $4::jsonb -> (t.n::int - 1), content_hash = t.hash, distinguished_name = t.dn, status = 'NORMAL',
            obsoleted_at = NULL, last_import_run_id = $1, imported_at = now(), updated_at = now()
       FROM unnest($2::uuid[], $3::text[], $5::text[]) WITH ORDINALITY AS t(id, dn, hash, n)
      WHERE c.id = t.id`,
    [
      runId,
      rows.map((r) => r.id),
      rows.map((r) => r.dn),
      jsonArray(rows.map((r) => r.attributesJson ?? JSON.stringify(r.attributes))),
      rows.map((r) => r.hash),
    ],
  );
}

/**
 * Objects an export run applied: connector space now expects what was sent (the next import
 * confirms it). A created object takes the anchor and DN the target gave it.
 */
export async function updateExported(
  tx: Q,
  objects: { id: string; anchor: string | null; dn: string | null; attributes: string; hash: string }[],
) {
  if (!objects.length) return;
  await tx.query(
    `UPDATE connector_space_object c SET anchor = COALESCE(t.anchor, c.anchor), distinguished_name = COALESCE(t.dn, c.distinguished_name),
            attributes = $4::jsonb -> (t.n::int - 1), content_hash = t.hash, status = 'NORMAL', updated_at = now()
       FROM unnest($1::uuid[], $2::text[], $3::text[], $5::text[]) WITH ORDINALITY AS t(id, anchor, dn, hash, n) WHERE c.id = t.id`,
    [
      objects.map((o) => o.id),
      objects.map((o) => o.anchor),
      objects.map((o) => o.dn),
      jsonArray(objects.map((o) => o.attributes)),
      objects.map((o) => o.hash),
    ],
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

/**
 * Full-import sweep, one slice at a time: objects of the system the run neither wrote nor
 * recorded as seen (import_seen_page, see import/seen.ts) become obsolete. The seen ids are
 * joined as one hashed set (an anti-join), not probed per object. Placeholders awaiting
 * provisioning are not the source's to delete.
 */
export async function obsoleteUnseen(tx: Q, systemId: string, runId: string, limit: number) {
  // The pages are written by this run and never analysed before its sweep: left to the row
  // estimates, the planner chose a nested loop that re-read every page per object (306 s for
  // 100,000 objects, measured). A hash join reads them once.
  await tx.query("SET LOCAL enable_nestloop = off");
  const { rows } = await tx.query<{ id: string; anchor: string }>(
    `UPDATE connector_space_object c SET status = 'OBSOLETE', obsoleted_at = now(), updated_at = now()
      WHERE c.id IN (
        SELECT o.id FROM connector_space_object o
          LEFT JOIN (SELECT DISTINCT x AS id FROM import_seen_page s, unnest(s.connector_space_object_ids) AS x
                      WHERE s.run_id = $2) seen ON seen.id = o.id
         WHERE o.connected_system_id = $1 AND o.status = 'NORMAL' AND o.last_import_run_id IS DISTINCT FROM $2
           AND seen.id IS NULL
         LIMIT $3)
      RETURNING c.id, c.anchor`,
    [systemId, runId, limit],
  );
  return rows;
}

/** Link objects to their identities (or unlink, with a null identity), as a sync decided. */
export async function updateJoins(tx: Q, rows: { csoId: string; mvoId: string | null; joinType: JoinType | null }[]) {
  if (rows.length === 0) return;
  await tx.query(
    `UPDATE connector_space_object c
        SET metaverse_object_id = t.mvo, join_type = t.join_type::join_type,
            joined_at = CASE WHEN t.mvo IS NULL THEN NULL ELSE now() END, updated_at = now()
       FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS t(id, mvo, join_type)
      WHERE c.id = t.id`,
    [rows.map((r) => r.csoId), rows.map((r) => r.mvoId), rows.map((r) => r.joinType)],
  );
}

/** Unlink objects from their identities (deprovisioning by disconnection). */
export async function disconnectObjects(tx: Q, ids: string[]) {
  if (ids.length)
    await tx.query(
      "UPDATE connector_space_object SET metaverse_object_id = NULL, join_type = NULL, joined_at = NULL, updated_at = now() WHERE id = ANY($1::uuid[])",
      [ids],
    );
}

/** Placeholders whose provisioning was called off; objects that exist in the target stay. */
export async function deletePlaceholders(tx: Q, ids: string[]) {
  if (ids.length)
    await tx.query("DELETE FROM connector_space_object WHERE id = ANY($1::uuid[]) AND status = 'PENDING_PROVISIONING'", [ids]);
}

/** Objects gone from their source leave connector space once the sync has disconnected them. */
export async function deleteObsolete(tx: Q, ids: string[]) {
  if (ids.length) await tx.query("DELETE FROM connector_space_object WHERE id = ANY($1::uuid[]) AND status = 'OBSOLETE'", [ids]);
}

/** Objects superseded by another that took their anchor (see anchorHolders). */
export async function deleteObjects(tx: Q, ids: string[]) {
  if (ids.length) await tx.query("DELETE FROM connector_space_object WHERE id = ANY($1::uuid[])", [ids]);
}

/**
 * Other objects of the system already holding the anchor each object was given (same type):
 * whether they are joined to an identity, and which of `objects` met them (`mine`).
 */
export async function anchorHolders(tx: Q, systemId: string, objects: { id: string; anchor: string }[]) {
  if (!objects.length) return [];
  // One unique-index probe per object (LATERAL ... LIMIT 1 keeps the planner from hashing the
  // system's whole connector space: 700 ms per 500-object batch at 100,000 objects).
  const { rows } = await tx.query<{ id: string; anchor: string; joined: boolean; mine: string }>(
    `SELECT o.id, t.anchor, o.joined, t.id::text AS mine
       FROM unnest($2::uuid[], $3::text[]) AS t(id, anchor)
       JOIN connector_space_object me ON me.id = t.id
       CROSS JOIN LATERAL (
         SELECT o.id, o.metaverse_object_id IS NOT NULL AS joined FROM connector_space_object o
          WHERE o.connected_system_id = $1 AND o.object_type = me.object_type AND o.anchor = t.anchor AND o.id <> t.id
          LIMIT 1) o`,
    [systemId, objects.map((o) => o.id), objects.map((o) => o.anchor)],
  );
  return rows;
}

/** Identities (by id) -> their object's DN or anchor in the system, once it exists there. */
export async function referenceTargets(q: Q, systemId: string, mvoIds: string[]): Promise<Map<string, string>> {
  if (!mvoIds.length) return new Map();
  const { rows } = await q.query(
    `SELECT metaverse_object_id AS mvo, coalesce(distinguished_name, anchor) AS ref FROM connector_space_object
      WHERE connected_system_id = $1 AND metaverse_object_id = ANY($2::uuid[]) AND status = 'NORMAL'`,
    [systemId, mvoIds],
  );
  return new Map(rows.map((r) => [r.mvo, r.ref]));
}
