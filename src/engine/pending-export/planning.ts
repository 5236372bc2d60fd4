import type pg from "pg";
import type { AttributeChange } from "../../connectors/connector.ts";
import { copyRows } from "../copy.ts";

/**
 * Pending exports as planning writes them: the open exports of objects, new ones by COPY,
 * revisions of still-pending ones, delete-threshold holds, and undo's reads. Execution
 * (execution.ts) and confirmation (confirmation.ts) are the other writers of the table; each
 * operation is one set-based statement (or COPY) whatever the batch size.
 */
type Q = Pick<pg.PoolClient, "query">;

export interface OpenExport {
  id: string;
  csoId: string;
  changeType: "CREATE" | "UPDATE" | "DELETE";
  status: string;
  attributeChanges: (AttributeChange & { status?: string })[];
}

/** Exports not yet applied (or applied and awaiting confirmation) per object. */
export async function loadOpenExports(q: Q, csoIds: string[]): Promise<Map<string, OpenExport[]>> {
  const out = new Map<string, OpenExport[]>();
  if (!csoIds.length) return out;
  // One probe of the (object, status) index per object; the status test is on its text so that
  // no plan walks a status index instead: right after an export run marked the whole backlog
  // EXPORTED, stale statistics made the planner scan every EXPORTED row (400 ms for 1,000
  // objects at 100,000 exports, a fifth of a 1% delta sync).
  const { rows } = await q.query(
    `SELECT p.* FROM unnest($1::uuid[]) AS c(id)
       CROSS JOIN LATERAL (
         SELECT id, connector_space_object_id, change_type, status, attribute_changes FROM pending_export
          WHERE connector_space_object_id = c.id AND status::text IN ('AWAITING_APPROVAL', 'PENDING', 'FAILED', 'EXPORTED') OFFSET 0) p`,
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

/** The exports an export run applied, newest first, with their object's type (for undo). */
export async function appliedByRun(q: Q, exportRunId: string) {
  const { rows } = await q.query(
    `SELECT p.id, p.connected_system_id, p.connector_space_object_id, p.metaverse_object_id, p.sync_rule_id, p.change_type,
            p.attribute_changes, p.before_values, c.object_type
       FROM pending_export p LEFT JOIN connector_space_object c ON c.id = p.connector_space_object_id
      WHERE p.export_run_id = $1 AND p.status IN ('EXPORTED', 'CONFIRMED') ORDER BY p.created_at DESC`,
    [exportRunId],
  );
  return rows;
}

/** The system and planning run of each export (null once that run is gone), for change notifications. */
export async function exportOwners(
  q: Q,
  ids: string[],
): Promise<{ id: string; systemId: string; planningRunId: string | null }[]> {
  if (!ids.length) return [];
  const { rows } = await q.query(
    'SELECT id, connected_system_id AS "systemId", planning_run_id AS "planningRunId" FROM pending_export WHERE id = ANY($1::uuid[])',
    [ids],
  );
  return rows;
}
