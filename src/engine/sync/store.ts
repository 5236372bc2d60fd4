import type pg from "pg";
import type { Attributes } from "../../connectors/connector.ts";
import { copyRows } from "../copy.ts";
import type { FlowValue } from "../expressions.ts";
import { packContributions, unpackContributions } from "./contributions.ts";
import type { Contribution } from "./merge.ts";

type Q = Pick<pg.PoolClient, "query">;

export interface SyncObject {
  id: string;
  systemId: string;
  objectType: string;
  anchor: string;
  status: "NORMAL" | "OBSOLETE" | "PENDING_PROVISIONING";
  joinType: "PROJECTED" | "JOINED" | "PROVISIONED" | null;
  mvoId: string | null;
  attributes: Attributes;
  joinedAt: number;
  importedAt: number;
}

export interface MetaverseRow {
  id: string;
  type: string;
  status: "ACTIVE" | "PENDING_DELETION" | "DELETED";
  attributes: Record<string, FlowValue>;
  contributions: Record<string, Contribution>;
  deletionDueAt: Date | null;
}

/** A connector space object's columns as a sync reads them; `attributes`: what to read for them. */
const csoColumns = (attributes = "attributes") => `id, connected_system_id, object_type, anchor, status, join_type,
  metaverse_object_id, ${attributes} AS attributes,
  extract(epoch from coalesce(joined_at, created_at)) * 1000 AS joined_ms, extract(epoch from coalesce(imported_at, updated_at)) * 1000 AS imported_ms`;

interface CsoRow {
  id: string;
  connected_system_id: string;
  object_type: string;
  anchor: string;
  status: SyncObject["status"];
  join_type: SyncObject["joinType"];
  metaverse_object_id: string | null;
  attributes: Attributes;
  joined_ms: string;
  imported_ms: string;
}

const toSyncObject = (r: CsoRow): SyncObject => ({
  id: r.id,
  systemId: r.connected_system_id,
  objectType: r.object_type,
  anchor: r.anchor,
  status: r.status,
  joinType: r.join_type,
  mvoId: r.metaverse_object_id,
  attributes: r.attributes,
  joinedAt: Number(r.joined_ms),
  importedAt: Number(r.imported_ms),
});

/**
 * FULL_SYNC pages: every object of the system by id (placeholders awaiting provisioning excluded).
 * Two statements, not `($2 IS NULL OR id > $2)`: that form cannot use the (system, id) index.
 */
export async function nextFullSyncPage(
  q: Q,
  systemId: string,
  afterId: string | null,
  limit: number,
  /** A partition's upper bound (inclusive). */
  toId: string | null = null,
): Promise<SyncObject[]> {
  const { rows } = await q.query<CsoRow>(
    `SELECT ${csoColumns()} FROM connector_space_object
      WHERE connected_system_id = $1 AND status <> 'PENDING_PROVISIONING'
        AND ($3::uuid IS NULL OR id > $3::uuid) AND ($4::uuid IS NULL OR id <= $4::uuid)
      ORDER BY id LIMIT $2`,
    [systemId, limit, afterId, toId],
  );
  return rows.map(toSyncObject);
}

/**
 * Cut a FULL_SYNC's objects into id ranges of `size` (the last one takes the rest): each
 * boundary is the id of every size-th object in the order the sync pages them.
 */
export async function fullSyncRanges(q: Q, systemId: string, size: number) {
  const { rows } = await q.query<{ id: string | null; total: number }>(
    `WITH o AS (SELECT id, row_number() OVER (ORDER BY id) AS n, count(*) OVER () AS total FROM connector_space_object
                 WHERE connected_system_id = $1 AND status <> 'PENDING_PROVISIONING')
     SELECT id, total::int AS total FROM o WHERE n % $2 = 0 AND n < total
     UNION ALL SELECT NULL, (SELECT count(*)::int FROM o) ORDER BY 1 NULLS LAST`,
    [systemId, size],
  );
  const total = rows.at(-1)!.total;
  const bounds = rows.flatMap((r) => (r.id ? [r.id] : []));
  const ends: (string | null)[] = [...bounds, null];
  return ends.map((toId, i) => ({
    afterId: i === 0 ? null : bounds[i - 1]!,
    toId,
    size: toId ? size : total - bounds.length * size,
  }));
}

/**
 * DELTA_SYNC pages: the queued changes of the system, oldest first, whole queue rows (one per
 * import batch) until about `limit` objects.
 */
export async function nextDeltaSyncPage(q: Q, systemId: string, afterChangeId: string, limit: number) {
  const ids = new Set<string>();
  let maxChangeId = afterChangeId;
  // A few queue rows at a time: a row holds up to a thousand ids, or only a handful.
  while (ids.size < limit) {
    // Ordered by the bigint column (an output column named id would order as text: 10 < 9).
    const { rows } = await q.query<{ id: string; ids: string[] }>(
      `SELECT c.id::text AS id, c.connector_space_object_ids AS ids FROM cso_change c
        WHERE c.connected_system_id = $1 AND c.id > $2::bigint ORDER BY c.id LIMIT 8`,
      [systemId, maxChangeId],
    );
    for (const row of rows) {
      if (ids.size >= limit) break;
      for (const id of row.ids ?? []) ids.add(id);
      maxChangeId = row.id;
    }
    if (rows.length < 8) break;
  }
  if (maxChangeId === afterChangeId) return null;
  const objects = await q.query<CsoRow>(
    `SELECT ${csoColumns()} FROM connector_space_object WHERE id = ANY($1::uuid[]) AND status <> 'PENDING_PROVISIONING' ORDER BY id`,
    [[...ids]],
  );
  return { maxChangeId, objects: objects.rows.map(toSyncObject) };
}

export async function maxCsoChangeId(q: Q, systemId: string): Promise<string> {
  const { rows } = await q.query<{ id: string | null }>(
    "SELECT max(id)::text AS id FROM cso_change WHERE connected_system_id = $1",
    [systemId],
  );
  return rows[0]?.id ?? "0";
}

export async function deleteCsoChanges(q: Q, systemId: string, upToId: string) {
  await q.query("DELETE FROM cso_change WHERE connected_system_id = $1 AND id <= $2::bigint", [systemId, upToId]);
}

/**
 * Live metaverse objects holding each (type, attribute, value) key, flagged when an object of
 * `systemId` is already joined to them (one connector per system per identity).
 */
export async function findKeyHolders(q: Q, systemId: string, lookups: { type: string; attribute: string; value: string }[]) {
  const found = new Map<string, { mvoId: string; joinedBySystem: boolean }[]>();
  if (lookups.length === 0) return found;
  const { rows } = await q.query<{ type: string; attribute: string; value: string; mvo: string; joined: boolean }>(
    `SELECT DISTINCT k.type, k.attribute, k.value, k.metaverse_object_id AS mvo,
            EXISTS (SELECT 1 FROM connector_space_object c WHERE c.metaverse_object_id = k.metaverse_object_id AND c.connected_system_id = $1) AS joined
       FROM unnest($2::text[], $3::text[], $4::text[]) AS l(type, attribute, value)
       JOIN metaverse_key k ON k.type = l.type AND k.attribute = l.attribute AND k.value = l.value
       JOIN metaverse_object m ON m.id = k.metaverse_object_id AND m.status <> 'DELETED'`,
    [systemId, lookups.map((l) => l.type), lookups.map((l) => l.attribute), lookups.map((l) => l.value)],
  );
  for (const r of rows) {
    const key = lookupKey(r.type, r.attribute, r.value);
    found.set(key, [...(found.get(key) ?? []), { mvoId: r.mvo, joinedBySystem: r.joined }]);
  }
  return found;
}

export const lookupKey = (type: string, attribute: string, value: string) => `${type}\u0000${attribute}\u0000${value}`;

export async function loadMetaverseObjects(q: Q, ids: string[]): Promise<Map<string, MetaverseRow>> {
  if (ids.length === 0) return new Map();
  const { rows } = await q.query<{
    id: string;
    type: string;
    status: MetaverseRow["status"];
    attributes: MetaverseRow["attributes"];
    contributions: unknown;
    deletion_due_at: Date | null;
  }>("SELECT id, type, status, attributes, contributions, deletion_due_at FROM metaverse_object WHERE id = ANY($1::uuid[])", [
    ids,
  ]);
  return new Map(
    rows.map((r) => [
      r.id,
      {
        id: r.id,
        type: r.type,
        status: r.status,
        attributes: r.attributes,
        contributions: unpackContributions(r.contributions),
        deletionDueAt: r.deletion_due_at,
      },
    ]),
  );
}

/**
 * Every object joined to the given metaverse objects (all systems), except those the caller
 * holds already (`except`, read in the same transaction). Only objects of `contributing` systems
 * (those with inbound rules) come with their attributes; the others' are `{}`: a recompute reads
 * a target system's object for its link alone, and a directory group's document of 100,000
 * member values cost more to parse than the whole rest of its identity's recompute.
 */
export async function loadConnectors(
  q: Q,
  mvoIds: string[],
  { except, contributing }: { except: string[]; contributing: string[] },
): Promise<SyncObject[]> {
  if (mvoIds.length === 0) return [];
  const { rows } = await q.query<CsoRow>(
    `SELECT ${csoColumns("CASE WHEN connected_system_id = ANY($3::uuid[]) THEN attributes ELSE '{}'::jsonb END")}
       FROM connector_space_object WHERE metaverse_object_id = ANY($1::uuid[]) AND id <> ALL($2::uuid[])`,
    [mvoIds, except, contributing],
  );
  return rows.map(toSyncObject);
}

export interface MetaverseWrite {
  id: string;
  /** Projected by this batch: not in the table yet. */
  created: boolean;
  type: string;
  status: MetaverseRow["status"];
  attributes: Record<string, FlowValue>;
  contributions: Record<string, Contribution>;
  displayName: string | null;
  deletionDueAt: Date | null;
}

/**
 * Write recomputed metaverse objects: identities created by this batch (ids chosen in the
 * engine, so they cannot exist yet) are loaded with COPY; existing ones are updated in one
 * statement. Projection writes thousands of new identities per batch: COPY is the cheap path.
 */
export async function upsertMetaverseObjects(tx: Q, rows: MetaverseWrite[]) {
  const created = rows.filter((r) => r.created);
  const updated = rows.filter((r) => !r.created);
  if (created.length)
    await copyRows(
      tx,
      "metaverse_object",
      ["id", "type", "status", "attributes", "contributions", "display_name", "deletion_due_at"],
      created,
      (r) => [
        r.id,
        r.type,
        r.status,
        JSON.stringify(r.attributes),
        JSON.stringify(packContributions(r.contributions)),
        r.displayName,
        r.deletionDueAt?.toISOString() ?? null,
      ],
    );
  if (updated.length === 0) return;
  await tx.query(
    `INSERT INTO metaverse_object (id, type, status, attributes, contributions, display_name, deletion_due_at, created_at, updated_at)
     SELECT t.id, t.type, t.status::mvo_status, t.attrs::jsonb, t.contrib::jsonb, t.display_name, t.due, now(), now()
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
         AS t(id, type, status, attrs, contrib, display_name, due)
     ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, attributes = EXCLUDED.attributes, contributions = EXCLUDED.contributions,
       display_name = EXCLUDED.display_name, deletion_due_at = EXCLUDED.deletion_due_at, updated_at = now()`,
    [
      updated.map((r) => r.id),
      updated.map((r) => r.type),
      updated.map((r) => r.status),
      updated.map((r) => JSON.stringify(r.attributes)),
      updated.map((r) => JSON.stringify(packContributions(r.contributions))),
      updated.map((r) => r.displayName),
      updated.map((r) => r.deletionDueAt),
    ],
  );
}

/**
 * Rewrite the join keys of the given metaverse objects: their old keys deleted (identities
 * created by this batch have none), the new ones, de-duplicated, loaded with COPY.
 */
export async function replaceKeys(
  tx: Q,
  existingMvoIds: string[],
  keys: { mvoId: string; type: string; attribute: string; value: string }[],
) {
  if (existingMvoIds.length)
    await tx.query("DELETE FROM metaverse_key WHERE metaverse_object_id = ANY($1::uuid[])", [existingMvoIds]);
  if (keys.length === 0) return;
  const unique = new Map<string, string[]>();
  for (const k of keys) unique.set(`${k.mvoId}\u0000${k.attribute}\u0000${k.value}`, [k.mvoId, k.type, k.attribute, k.value]);
  await copyRows(tx, "metaverse_key", ["metaverse_object_id", "type", "attribute", "value"], unique.values(), (row) => row);
}

/** Metaverse objects whose deletion grace period is over. */
export async function dueDeletions(q: Q, limit: number) {
  const { rows } = await q.query<{ id: string }>(
    "SELECT id FROM metaverse_object WHERE status = 'PENDING_DELETION' AND deletion_due_at <= now() ORDER BY deletion_due_at LIMIT $1",
    [limit],
  );
  return rows.map((r) => r.id);
}

/** Identities whose deletion came due: DELETED (the row stays, for history and references). */
export async function markMetaverseObjectsDeleted(tx: Q, ids: string[]) {
  await tx.query(
    "UPDATE metaverse_object SET status = 'DELETED', deletion_due_at = NULL, updated_at = now() WHERE id = ANY($1::uuid[])",
    [ids],
  );
}

/** Join keys of deleted identities: nothing may join them any more. */
export async function deleteKeys(tx: Q, mvoIds: string[]) {
  await tx.query("DELETE FROM metaverse_key WHERE metaverse_object_id = ANY($1::uuid[])", [mvoIds]);
}

/**
 * Index the exact key `attribute` of identities of `type` straight from their stored
 * documents, unless that key already has entries: a join rule added after identities exist.
 */
export async function indexKeyIfMissing(q: Q, type: string, attribute: string) {
  await q.query(
    `INSERT INTO metaverse_key (metaverse_object_id, type, attribute, value)
     SELECT m.id, m.type, $2, lower(trim(v.value))
       FROM metaverse_object m
       CROSS JOIN LATERAL jsonb_array_elements_text(CASE jsonb_typeof(m.attributes->$2) WHEN 'array' THEN m.attributes->$2 ELSE jsonb_build_array(m.attributes->$2) END) AS v(value)
      WHERE m.type = $1 AND m.status <> 'DELETED' AND m.attributes ? $2
        AND NOT EXISTS (SELECT 1 FROM metaverse_key k WHERE k.type = $1 AND k.attribute = $2)
     ON CONFLICT DO NOTHING`,
    [type, attribute],
  );
}
