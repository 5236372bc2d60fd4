import type pg from "pg";
import type { AttributeChange, Attributes } from "../../connectors/connector.ts";
import { copyRows } from "../copy.ts";

type Q = Pick<pg.PoolClient, "query">;

export interface TargetObject {
  id: string;
  systemId: string;
  objectType: string;
  anchor: string;
  dn: string | null;
  attributes: Attributes;
  status: "NORMAL" | "OBSOLETE" | "PENDING_PROVISIONING";
  joinType: "PROJECTED" | "JOINED" | "PROVISIONED" | null;
  mvoId: string;
}

export interface OpenExport {
  id: string;
  csoId: string;
  changeType: "CREATE" | "UPDATE" | "DELETE";
  status: string;
  attributeChanges: (AttributeChange & { status?: string })[];
}

/** The target systems' objects joined to these identities. */
export async function loadTargets(q: Q, mvoIds: string[], systemIds: string[]): Promise<TargetObject[]> {
  if (!mvoIds.length || !systemIds.length) return [];
  // One probe of the identity index per identity (OFFSET 0 keeps the subquery from being merged):
  // planned as one join, the planner walked the target systems' whole connector space once they
  // held more rows than its statistics knew of (72 ms per 1,000 identities at 100,000 objects).
  const { rows } = await q.query(
    `SELECT c.* FROM unnest($1::uuid[]) AS m(id)
       CROSS JOIN LATERAL (
         SELECT id, connected_system_id, object_type, anchor, distinguished_name, attributes, status, join_type, metaverse_object_id
           FROM connector_space_object WHERE metaverse_object_id = m.id AND connected_system_id = ANY($2::uuid[]) OFFSET 0) c`,
    [mvoIds, systemIds],
  );
  return rows.map((r) => ({
    id: r.id,
    systemId: r.connected_system_id,
    objectType: r.object_type,
    anchor: r.anchor,
    dn: r.distinguished_name,
    attributes: r.attributes,
    status: r.status,
    joinType: r.join_type,
    mvoId: r.metaverse_object_id,
  }));
}

/** Exports not yet applied (or applied and awaiting confirmation) per object. */
export async function loadOpenExports(q: Q, csoIds: string[]): Promise<Map<string, OpenExport[]>> {
  const out = new Map<string, OpenExport[]>();
  if (!csoIds.length) return out;
  const { rows } = await q.query(
    `SELECT id, connector_space_object_id, change_type, status, attribute_changes FROM pending_export
      WHERE connector_space_object_id = ANY($1::uuid[]) AND status IN ('AWAITING_APPROVAL', 'PENDING', 'FAILED', 'EXPORTED')`,
    [csoIds],
  );
  for (const r of rows) {
    const list = out.get(r.connector_space_object_id) ?? [];
    list.push({
      id: r.id,
      csoId: r.connector_space_object_id,
      changeType: r.change_type,
      status: r.status,
      attributeChanges: r.attribute_changes,
    });
    out.set(r.connector_space_object_id, list);
  }
  return out;
}

/** Is `value` already held by another object of the system (or reserved by this batch)? */
export async function valueTaken(q: Q, systemId: string, attribute: string, value: string, mvoId: string): Promise<boolean> {
  const { rowCount } = await q.query(
    attribute === "dn"
      ? `SELECT 1 FROM connector_space_object WHERE connected_system_id = $1 AND lower(distinguished_name) = lower($3)
           AND metaverse_object_id IS DISTINCT FROM $4::uuid AND $2 = 'dn' LIMIT 1`
      : `SELECT 1 FROM connector_space_object WHERE connected_system_id = $1 AND lower(attributes->>$2) = lower($3)
           AND metaverse_object_id IS DISTINCT FROM $4::uuid LIMIT 1`,
    [systemId, attribute, value, mvoId],
  );
  return (rowCount ?? 0) > 0;
}

/** Target objects (in one system) of identities referenced by key value, for reference attributes. */
export async function resolveReferences(q: Q, type: string, systemId: string, values: string[]) {
  const out = new Map<string, { mvoId: string; dn: string | null; anchor: string; ready: boolean }>();
  if (!values.length) return out;
  const { rows } = await q.query(
    `SELECT DISTINCT ON (k.value) k.value, k.metaverse_object_id AS mvo, c.distinguished_name AS dn, c.anchor, c.status
       FROM metaverse_key k
       LEFT JOIN connector_space_object c ON c.metaverse_object_id = k.metaverse_object_id AND c.connected_system_id = $2
      WHERE k.type = $1 AND k.value = ANY($3::text[]) AND k.attribute NOT LIKE '~%'
      ORDER BY k.value, c.status NULLS LAST`,
    [type, systemId, values.map((v) => v.trim().toLowerCase())],
  );
  for (const r of rows) out.set(r.value, { mvoId: r.mvo, dn: r.dn, anchor: r.anchor, ready: r.status === "NORMAL" });
  return out;
}

export interface NewExport {
  id: string;
  systemId: string;
  csoId: string;
  mvoId: string;
  ruleId: string;
  changeType: "CREATE" | "UPDATE" | "DELETE";
  status: "PENDING" | "AWAITING_APPROVAL";
  attributeChanges: unknown[];
  beforeValues: unknown;
  requiresApproval: boolean;
  approvalReason: string | null;
  awaitingReference: boolean;
  notBefore: Date | null;
  undoOfRunId?: string | null;
}

const EXPORT_COLUMNS = [
  "id",
  "connected_system_id",
  "connector_space_object_id",
  "metaverse_object_id",
  "sync_rule_id",
  "change_type",
  "status",
  "attribute_changes",
  "before_values",
  "requires_approval",
  "approval_reason",
  "awaiting_reference",
  "not_before",
  "planning_run_id",
  "undo_of_run_id",
];

const bool = (b: boolean) => (b ? "t" : "f");

/** Bulk load with COPY (a planning batch writes thousands; INSERT ... unnest parsed huge arrays). */
export async function insertExports(tx: Q, runId: string | null, rows: NewExport[]) {
  if (!rows.length) return;
  await copyRows(tx, "pending_export", EXPORT_COLUMNS, rows, (r) => [
    r.id,
    r.systemId,
    r.csoId,
    r.mvoId,
    r.ruleId,
    r.changeType,
    r.status,
    JSON.stringify(r.attributeChanges),
    r.beforeValues === null || r.beforeValues === undefined ? null : JSON.stringify(r.beforeValues),
    bool(r.requiresApproval),
    r.approvalReason,
    bool(r.awaitingReference),
    r.notBefore ? r.notBefore.toISOString() : null,
    runId,
    r.undoOfRunId ?? null,
  ]);
}

/** Supersede still-pending exports with a newer plan, or cancel them. */
export async function reviseExports(tx: Q, rows: { id: string; attributeChanges: unknown[] | null; status: string }[]) {
  if (!rows.length) return;
  await tx.query(
    `UPDATE pending_export p SET attribute_changes = COALESCE(t.ac::jsonb, p.attribute_changes), status = t.st::pending_export_status, updated_at = now()
       FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(id, ac, st) WHERE p.id = t.id`,
    [
      rows.map((r) => r.id),
      rows.map((r) => (r.attributeChanges ? JSON.stringify(r.attributeChanges) : null)),
      rows.map((r) => r.status),
    ],
  );
}

export async function insertPlaceholders(
  tx: Q,
  rows: {
    id: string;
    systemId: string;
    objectType: string;
    anchor: string;
    dn: string | null;
    attributes: Attributes;
    hash: string;
    mvoId: string;
  }[],
) {
  if (!rows.length) return;
  const joinedAt = new Date().toISOString();
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
      "join_type",
      "metaverse_object_id",
      "joined_at",
    ],
    rows,
    (r) => [
      r.id,
      r.systemId,
      r.objectType,
      r.anchor,
      r.dn,
      JSON.stringify(r.attributes),
      r.hash,
      "PENDING_PROVISIONING",
      "PROVISIONED",
      r.mvoId,
      joinedAt,
    ],
  );
}

export async function disconnectObjects(tx: Q, ids: string[]) {
  if (ids.length)
    await tx.query(
      "UPDATE connector_space_object SET metaverse_object_id = NULL, join_type = NULL, joined_at = NULL, updated_at = now() WHERE id = ANY($1::uuid[])",
      [ids],
    );
}

export async function deletePlaceholders(tx: Q, ids: string[]) {
  if (ids.length)
    await tx.query("DELETE FROM connector_space_object WHERE id = ANY($1::uuid[]) AND status = 'PENDING_PROVISIONING'", [ids]);
}

/** A sync that plans more deletes for a system than its threshold holds them all for approval. */
export async function holdDeletesOverThreshold(tx: Q, runId: string, systemId: string, threshold: number): Promise<number> {
  const { rows } = await tx.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pending_export WHERE planning_run_id = $1 AND connected_system_id = $2 AND change_type = 'DELETE'",
    [runId, systemId],
  );
  if ((rows[0]?.n ?? 0) <= threshold) return 0;
  const held = await tx.query(
    `UPDATE pending_export SET status = 'AWAITING_APPROVAL', requires_approval = true,
            approval_reason = 'more deletes than the delete threshold (' || $3 || ')', updated_at = now()
      WHERE planning_run_id = $1 AND connected_system_id = $2 AND change_type = 'DELETE' AND status = 'PENDING' AND approved_at IS NULL`,
    [runId, systemId, threshold],
  );
  return held.rowCount ?? 0;
}

/**
 * Exports just applied close older FAILED/ERROR updates of the same objects for the attributes
 * they covered (a DELETE covers every attribute): an update left with nothing is CANCELLED, one
 * with other attributes keeps only those. Otherwise a stale error stays beside the newer success
 * and a retry would put the old value back.
 */
export async function closeSupersededFailures(tx: Q, appliedIds: string[]): Promise<string[]> {
  if (!appliedIds.length) return [];
  const { rows } = await tx.query<{ id: string }>(
    `WITH applied AS (
       SELECT d.connector_space_object_id AS cso, d.created_at, d.change_type,
              ARRAY(SELECT c->>'attribute' FROM jsonb_array_elements(d.attribute_changes) c) AS attrs
         FROM pending_export d WHERE d.id = ANY($1::uuid[]) AND d.connector_space_object_id IS NOT NULL),
     older AS (
       SELECT o.id, o.attribute_changes,
              COALESCE((SELECT jsonb_agg(c) FROM jsonb_array_elements(o.attribute_changes) c
                         WHERE NOT EXISTS (SELECT 1 FROM applied a WHERE a.cso = o.connector_space_object_id AND a.created_at > o.created_at
                                              AND (a.change_type = 'DELETE' OR c->>'attribute' = ANY(a.attrs)))), '[]'::jsonb) AS remaining
         FROM pending_export o
        WHERE o.connector_space_object_id IN (SELECT cso FROM applied) AND o.status IN ('FAILED', 'ERROR')
          AND o.change_type = 'UPDATE' AND NOT (o.id = ANY($1::uuid[])))
     UPDATE pending_export p
        SET attribute_changes = older.remaining,
            status = CASE WHEN jsonb_array_length(older.remaining) = 0 THEN 'CANCELLED'::pending_export_status ELSE p.status END,
            updated_at = now()
       FROM older WHERE p.id = older.id AND older.remaining <> older.attribute_changes
     RETURNING p.id`,
    [appliedIds],
  );
  return rows.map((r) => r.id);
}
