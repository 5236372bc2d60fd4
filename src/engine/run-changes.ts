import type pg from "pg";

/** One explainability record (table run_change): what a run did, or would do, to one object. */
export interface RunChangeRow {
  changeType: string;
  csoId?: string | null;
  mvoId?: string | null;
  pendingExportId?: string | null;
  anchor?: string | null;
  /** [{ attribute, before, after }] or another JSON detail of the change. */
  attributeChanges?: unknown;
  syncRuleId?: string | null;
  sourceSystemId?: string | null;
  location?: string | null;
  errorCode?: string | null;
  message?: string | null;
}

/** Bulk insert: one statement per batch, whatever its size. */
export async function insertRunChanges(tx: Pick<pg.PoolClient, "query">, runId: string, rows: RunChangeRow[]): Promise<void> {
  if (rows.length === 0) return;
  const col = <K extends keyof RunChangeRow>(k: K) => rows.map((r) => r[k] ?? null);
  await tx.query(
    `INSERT INTO run_change (run_id, change_type, connector_space_object_id, metaverse_object_id, pending_export_id, anchor,
        attribute_changes, sync_rule_id, source_system_id, location, error_code, message)
     SELECT $1, t.change_type, t.cso, t.mvo, t.pe, t.anchor, t.attrs::jsonb, t.rule, t.source, t.location, t.code, t.message
       FROM unnest($2::text[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::uuid[], $9::uuid[], $10::text[], $11::text[], $12::text[])
         AS t(change_type, cso, mvo, pe, anchor, attrs, rule, source, location, code, message)`,
    [
      runId,
      col("changeType"),
      col("csoId"),
      col("mvoId"),
      col("pendingExportId"),
      col("anchor"),
      rows.map((r) =>
        r.attributeChanges === undefined || r.attributeChanges === null ? null : JSON.stringify(r.attributeChanges),
      ),
      col("syncRuleId"),
      col("sourceSystemId"),
      col("location"),
      col("errorCode"),
      col("message"),
    ],
  );
}

export interface AttributeDiff {
  attribute: string;
  before: unknown;
  after: unknown;
}

/** Attribute-level differences between two documents (keys in either). */
export function diffAttributes(before: Record<string, unknown>, after: Record<string, unknown>): AttributeDiff[] {
  const diffs: AttributeDiff[] = [];
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const b = before[key] ?? null;
    const a = after[key] ?? null;
    if (JSON.stringify(b) !== JSON.stringify(a)) diffs.push({ attribute: key, before: b, after: a });
  }
  return diffs;
}
