import type pg from "pg";
import type { AttributeChange, Attributes } from "../../connectors/connector.ts";

type Q = Pick<pg.PoolClient, "query">;

export interface ReadyExport {
  id: string;
  changeType: "CREATE" | "UPDATE" | "DELETE";
  attributeChanges: (AttributeChange & { status?: string })[];
  errorCount: number;
  maxRetries: number;
  csoId: string | null;
  objectType: string | null;
  anchor: string | null;
  dn: string | null;
  csoAttributes: Attributes | null;
  csoStatus: string | null;
  mvoType: string | null;
}

/**
 * Claim the next exports of a system that may run now (PENDING, or FAILED whose retry time
 * came, approved or never needing approval, past their not-before time): EXECUTING, stamped with
 * the run. Creates first and references last, so referenced objects exist before references.
 * Exports this run claimed before a crash are taken again.
 *
 * One query per change type, each walking the open-exports index (system, type,
 * awaiting_reference, created_at, id) in order and stopping at the limit: ordering the whole
 * backlog by a CASE over the type cost a sort of every open export per claim.
 */
const CLAIM_ORDER = ["CREATE", "UPDATE", "DELETE"] as const;

export async function claimReadyExports(
  tx: Q,
  systemId: string,
  runId: string,
  limit: number,
  /** Exports still in flight in this run, and their objects: not claimed again meanwhile. */
  exclude: { ids: string[]; csoIds: string[] } = { ids: [], csoIds: [] },
): Promise<ReadyExport[]> {
  const rows: pg.QueryResultRow[] = [];
  for (const changeType of CLAIM_ORDER) {
    if (rows.length >= limit) break;
    const claimed = await tx.query(
      `WITH ready AS (
         SELECT p.id FROM pending_export p
          WHERE p.connected_system_id = $1 AND p.change_type = $4::pending_export_change_type
            AND p.status IN ('PENDING', 'FAILED', 'EXECUTING')
            AND (p.status = 'PENDING' OR (p.status = 'FAILED' AND p.next_retry_at <= now() AND p.export_run_id IS DISTINCT FROM $2)
                 OR (p.status = 'EXECUTING' AND p.export_run_id = $2))
            AND (p.not_before IS NULL OR p.not_before <= now())
            AND p.id <> ALL($5::uuid[])
            AND (p.connector_space_object_id IS NULL OR p.connector_space_object_id <> ALL($6::uuid[]))
          ORDER BY p.awaiting_reference, p.created_at, p.id
          LIMIT $3 FOR UPDATE SKIP LOCKED)
       UPDATE pending_export p SET status = 'EXECUTING', export_run_id = $2, updated_at = now()
         FROM ready WHERE p.id = ready.id
       RETURNING p.id, p.change_type, p.attribute_changes, p.error_count, p.max_retries, p.connector_space_object_id, p.metaverse_object_id,
                 p.awaiting_reference, p.created_at`,
      [systemId, runId, limit - rows.length, changeType, exclude.ids, exclude.csoIds],
    );
    // RETURNING does not keep the CTE's order: restore it.
    claimed.rows.sort(
      (a, b) =>
        Number(a.awaiting_reference) - Number(b.awaiting_reference) ||
        a.created_at - b.created_at ||
        (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
    rows.push(...claimed.rows);
  }
  if (!rows.length) return [];
  const objects = await tx.query(
    `SELECT c.id, c.object_type, c.anchor, c.distinguished_name, c.attributes, c.status, m.type AS mvo_type
       FROM connector_space_object c LEFT JOIN metaverse_object m ON m.id = c.metaverse_object_id WHERE c.id = ANY($1::uuid[])`,
    [rows.map((r) => r.connector_space_object_id).filter(Boolean)],
  );
  const byId = new Map(objects.rows.map((o) => [o.id, o]));
  return rows.map((r) => {
    const o = byId.get(r.connector_space_object_id);
    return {
      id: r.id,
      changeType: r.change_type,
      attributeChanges: r.attribute_changes,
      errorCount: r.error_count,
      maxRetries: r.max_retries,
      csoId: r.connector_space_object_id,
      objectType: o?.object_type ?? null,
      anchor: o?.anchor ?? null,
      dn: o?.distinguished_name ?? null,
      csoAttributes: o?.attributes ?? null,
      csoStatus: o?.status ?? null,
      mvoType: o?.mvo_type ?? null,
    };
  });
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

/** An unreachable target: give the claimed exports back untouched, to run next time. */
export async function releaseExports(q: Q, ids: string[]) {
  if (ids.length)
    await q.query(
      `UPDATE pending_export SET status = CASE WHEN error_count > 0 THEN 'FAILED'::pending_export_status ELSE 'PENDING'::pending_export_status END,
              next_retry_at = CASE WHEN error_count > 0 THEN now() ELSE next_retry_at END, updated_at = now()
        WHERE id = ANY($1::uuid[]) AND status = 'EXECUTING'`,
      [ids],
    );
}

/** Exports over the system's delete threshold wait for approval before any export run applies them. */
export async function holdUnapprovedDeletes(q: Q, systemId: string, threshold: number): Promise<number> {
  const { rows } = await q.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pending_export WHERE connected_system_id = $1 AND change_type = 'DELETE' AND status = 'PENDING' AND approved_at IS NULL",
    [systemId],
  );
  if ((rows[0]?.n ?? 0) <= threshold) return 0;
  const r = await q.query(
    `UPDATE pending_export SET status = 'AWAITING_APPROVAL', requires_approval = true,
            approval_reason = 'more deletes than the delete threshold (' || $2 || ')', updated_at = now()
      WHERE connected_system_id = $1 AND change_type = 'DELETE' AND status = 'PENDING' AND approved_at IS NULL`,
    [systemId, threshold],
  );
  return r.rowCount ?? 0;
}
