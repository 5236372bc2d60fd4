import type pg from "pg";
import type { AttributeChange, Attributes } from "../../connectors/connector.ts";
import { ACTIVE_STATUSES_SQL } from "../run-statuses.ts";

/**
 * Pending exports as an export run moves them: claimed, released, settled (EXPORTED, FAILED,
 * ERROR), references queued for a later pass, older failures closed, dry-run pages.
 */
type Q = Pick<pg.PoolClient, "query">;

/**
 * Exports just applied close older FAILED/ERROR updates of the same objects for the attributes
 * they covered (a DELETE covers every attribute): an update left with nothing is CANCELLED, one
 * with other attributes keeps only those. Otherwise a stale error stays beside the newer success
 * and a retry would put the old value back. The older failures are looked up first: the applied
 * exports' attribute lists are read only for the objects that have one (usually none).
 */
export async function closeSupersededFailures(tx: Q, appliedIds: string[]): Promise<string[]> {
  if (!appliedIds.length) return [];
  const { rows } = await tx.query<{ id: string }>(
    `WITH failed AS (
       SELECT o.id, o.connector_space_object_id AS cso, o.created_at, o.attribute_changes FROM pending_export o
        WHERE o.connector_space_object_id IN (SELECT d.connector_space_object_id FROM pending_export d WHERE d.id = ANY($1::uuid[]))
          AND o.status IN ('FAILED', 'ERROR') AND o.change_type = 'UPDATE' AND NOT (o.id = ANY($1::uuid[]))),
     applied AS (
       SELECT d.connector_space_object_id AS cso, d.created_at, d.change_type,
              ARRAY(SELECT c->>'attribute' FROM jsonb_array_elements(d.attribute_changes) c) AS attrs
         FROM pending_export d WHERE d.id = ANY($1::uuid[]) AND d.connector_space_object_id IN (SELECT cso FROM failed)),
     older AS (
       SELECT o.id, o.attribute_changes,
              COALESCE((SELECT jsonb_agg(c) FROM jsonb_array_elements(o.attribute_changes) c
                         WHERE NOT EXISTS (SELECT 1 FROM applied a WHERE a.cso = o.cso AND a.created_at > o.created_at
                                              AND (a.change_type = 'DELETE' OR c->>'attribute' = ANY(a.attrs)))), '[]'::jsonb) AS remaining
         FROM failed o)
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
  /** The run that planned it: change notifications are filtered by it. */
  planningRunId: string | null;
}

/**
 * Claim the next exports of a system that may run now (PENDING, or FAILED whose retry time
 * came, approved or never needing approval, past their not-before time, their planning run
 * ended): EXECUTING, stamped with the run. Creates first and references last, so referenced objects exist before references.
 * Exports a run claimed before a crash are given back when it resumes (releaseRunExports).
 *
 * One walk per change type, each along the open-exports index (system, type,
 * awaiting_reference, created_at, id) in order and stopping at what the types before it left of
 * the limit: ordering the whole backlog by a CASE over the type cost a sort of every open
 * export per claim. The three walks, the claim and the read of the claimed exports' objects are
 * one statement: an export run of a real-time burst claims three times or so (its batch, the
 * look beside the send, the look after the last batch), and each claim was four round trips.
 *
 * A claim also stops at CLAIM_BYTES of changes and stored attributes (the first export is always
 * taken): a batch is held whole in memory while it is sent and stored, up to three batches at
 * once, and a batch of large groups weighs what its members do. Ten 100,000-member group
 * CREATEs claimed together raised an export run's peak RSS by 243-262 MB (88 MB with the bound).
 */
const CLAIM_ORDER = ["CREATE", "UPDATE", "DELETE"] as const;
/**
 * A run still planning (or paused, or handed back mid-way) has not been judged whole by the
 * mass-change breaker: its exports wait for its end, or a later batch crossing a limit could no
 * longer hold the ones an export run running meanwhile had already sent.
 */
export const PLANNING_ACTIVE = ACTIVE_STATUSES_SQL;

/**
 * The ready exports of one change type, in claim order, up to what `before` (earlier walks) left
 * of $3. The walk's index holds only PENDING and FAILED exports: the ones in flight (EXECUTING,
 * the oldest, up to a few thousand while a file target holds its batches) are not in it, so no
 * claim walks past them (a real-time burst's claims, mostly short of the limit, each read every
 * one: 59 ms a claim). An object in flight keeps its next export back ($4, a hashed subplan:
 * `<> ALL` in a generic plan compares each row with every id).
 */
const readyWalk = (changeType: (typeof CLAIM_ORDER)[number], before: string[]) => `
  SELECT p.id, ${CLAIM_ORDER.indexOf(changeType)} AS type_order FROM pending_export p
   WHERE p.connected_system_id = $1 AND p.change_type = '${changeType}'
     AND p.status IN ('PENDING', 'FAILED')
     AND (p.status = 'PENDING' OR (p.next_retry_at <= now() AND p.export_run_id IS DISTINCT FROM $2))
     AND (p.not_before IS NULL OR p.not_before <= now())
     AND NOT EXISTS (SELECT 1 FROM run r WHERE r.id = p.planning_run_id AND r.status IN ${PLANNING_ACTIVE})
     AND (p.connector_space_object_id IS NULL OR p.connector_space_object_id NOT IN (SELECT unnest($4::uuid[])))
   ORDER BY p.awaiting_reference, p.created_at, p.id
   LIMIT greatest(0, $3${before.map((w) => ` - (SELECT count(*) FROM ${w})`).join("")}) FOR UPDATE SKIP LOCKED`;

/**
 * Bytes (as JSON text) of changes and stored attributes one claim takes at most, past its first
 * export. A batch of 500 people exports is ~200-400 KB; a 100,000-member group is ~1.6 MB.
 */
export const CLAIM_BYTES = 1 << 20;

const CLAIM_SQL = `
  WITH creates AS (${readyWalk("CREATE", [])}),
  updates AS (${readyWalk("UPDATE", ["creates"])}),
  deletes AS (${readyWalk("DELETE", ["creates", "updates"])}),
  ready AS (SELECT * FROM creates UNION ALL SELECT * FROM updates UNION ALL SELECT * FROM deletes),
  weighed AS (
    SELECT ready.id, ready.type_order, p.awaiting_reference, p.created_at,
           octet_length(p.attribute_changes::text) + COALESCE(octet_length(c.attributes::text), 0) AS bytes
      FROM ready JOIN pending_export p ON p.id = ready.id
      LEFT JOIN connector_space_object c ON c.id = p.connector_space_object_id),
  taken AS (
    SELECT id, type_order FROM (
      SELECT id, type_order, bytes, sum(bytes) OVER (ORDER BY type_order, awaiting_reference, created_at, id) AS upto
        FROM weighed) w
     WHERE upto - bytes < $5),
  claimed AS (
    UPDATE pending_export p SET status = 'EXECUTING', export_run_id = $2, updated_at = now()
      FROM taken WHERE p.id = taken.id
    RETURNING p.id, p.change_type, p.attribute_changes, p.error_count, p.max_retries, p.connector_space_object_id,
              p.awaiting_reference, p.created_at, p.planning_run_id, taken.type_order)
  SELECT k.*, c.object_type, c.anchor, c.distinguished_name, c.attributes AS cso_attributes, c.status AS cso_status,
         m.type AS mvo_type
    FROM claimed k
    LEFT JOIN connector_space_object c ON c.id = k.connector_space_object_id
    LEFT JOIN metaverse_object m ON m.id = c.metaverse_object_id`;

export async function claimReadyExports(
  tx: Q,
  systemId: string,
  runId: string,
  limit: number,
  /** Objects of the exports still in flight in this run: their next exports wait for the outcome. */
  busyCsoIds: string[] = [],
): Promise<ReadyExport[]> {
  const { rows } = await tx.query({
    name: "claim-ready-exports",
    text: CLAIM_SQL,
    values: [systemId, runId, limit, busyCsoIds, CLAIM_BYTES],
  });
  // RETURNING does not keep the walks' order: restore it (types in claim order, then each walk's).
  rows.sort(
    (a, b) =>
      a.type_order - b.type_order ||
      Number(a.awaiting_reference) - Number(b.awaiting_reference) ||
      a.created_at - b.created_at ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  return rows.map((r) => ({
    id: r.id,
    changeType: r.change_type,
    attributeChanges: r.attribute_changes,
    errorCount: r.error_count,
    maxRetries: r.max_retries,
    csoId: r.connector_space_object_id,
    objectType: r.object_type ?? null,
    anchor: r.anchor ?? null,
    dn: r.distinguished_name ?? null,
    csoAttributes: r.cso_attributes ?? null,
    csoStatus: r.cso_status ?? null,
    mvoType: r.mvo_type ?? null,
    planningRunId: r.planning_run_id,
  }));
}

const RELEASE = `UPDATE pending_export SET status = CASE WHEN error_count > 0 THEN 'FAILED'::pending_export_status ELSE 'PENDING'::pending_export_status END,
              next_retry_at = CASE WHEN error_count > 0 THEN now() ELSE next_retry_at END, updated_at = now()`;

/** An unreachable target: give the claimed exports back untouched, to run next time. */
export async function releaseExports(q: Q, ids: string[]) {
  if (ids.length) await q.query(`${RELEASE} WHERE id = ANY($1::uuid[]) AND status = 'EXECUTING'`, [ids]);
}

/**
 * A run resumed (after a crash, a lost lease, a pause): the exports it claimed before and never
 * settled are given back, to be claimed again in claim order (they may have reached the target
 * already: a resumed run always sent them again).
 */
export async function releaseRunExports(q: Q, runId: string): Promise<number> {
  const r = await q.query(`${RELEASE} WHERE export_run_id = $1 AND status = 'EXECUTING'`, [runId]);
  return r.rowCount ?? 0;
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

/** Exports the target applied: EXPORTED, awaiting confirmation by the next import. */
export async function markExported(tx: Q, ids: string[]) {
  if (ids.length)
    await tx.query(
      "UPDATE pending_export SET status = 'EXPORTED', exported_at = now(), last_error = NULL, last_error_code = NULL, updated_at = now() WHERE id = ANY($1::uuid[])",
      [ids],
    );
}

export interface ExportFailure {
  id: string;
  status: string;
  errors: number;
  message: string;
  code: string;
  retryAt: Date | null;
}

/** Exports the target refused: FAILED with a retry time while retries remain, else ERROR. */
export async function recordFailures(tx: Q, failures: ExportFailure[]) {
  if (failures.length)
    await tx.query(
      `UPDATE pending_export p SET status = t.status::pending_export_status, error_count = t.errors, last_error = t.message, last_error_code = t.code,
              next_retry_at = t.retry_at, updated_at = now()
         FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[], $6::timestamptz[]) AS t(id, status, errors, message, code, retry_at)
        WHERE p.id = t.id`,
      [
        failures.map((f) => f.id),
        failures.map((f) => f.status),
        failures.map((f) => f.errors),
        failures.map((f) => f.message),
        failures.map((f) => f.code),
        failures.map((f) => f.retryAt),
      ],
    );
}

/**
 * References whose targets did not exist yet go out in a later pass, as their own UPDATE of
 * the same object (`changes`: the attribute changes still to send, as JSON), queued PENDING.
 */
export async function queueReferenceFollowUps(tx: Q, followUps: { id: string; changes: string }[]) {
  if (followUps.length)
    await tx.query(
      `INSERT INTO pending_export (connected_system_id, connector_space_object_id, metaverse_object_id, sync_rule_id, change_type, status, attribute_changes, awaiting_reference, planning_run_id)
       SELECT p.connected_system_id, p.connector_space_object_id, p.metaverse_object_id, p.sync_rule_id, 'UPDATE', 'PENDING', t.changes::jsonb, true, p.planning_run_id
         FROM unnest($1::uuid[], $2::text[]) AS t(id, changes) JOIN pending_export p ON p.id = t.id`,
      [followUps.map((f) => f.id), followUps.map((f) => f.changes)],
    );
}

/** A page of the exports an export run would send now (dry run), in id order after `after`. */
export async function previewPage(q: Q, systemId: string, after: string, limit: number) {
  const { rows } = await q.query(
    `SELECT p.id, p.change_type, p.attribute_changes, p.connector_space_object_id, c.anchor, c.distinguished_name
       FROM pending_export p LEFT JOIN connector_space_object c ON c.id = p.connector_space_object_id
      WHERE p.connected_system_id = $1 AND p.status IN ('PENDING', 'FAILED') AND p.id > $2 ORDER BY p.id LIMIT $3`,
    [systemId, after, limit],
  );
  return rows;
}
