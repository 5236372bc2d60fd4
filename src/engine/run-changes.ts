import type pg from "pg";
import { copyRows } from "./copy.ts";

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

const COLUMNS = [
  "run_id",
  "change_type",
  "connector_space_object_id",
  "metaverse_object_id",
  "pending_export_id",
  "anchor",
  "attribute_changes",
  "sync_rule_id",
  "source_system_id",
  "location",
  "error_code",
  "message",
];

/** Bulk insert with COPY: one round trip per batch, whatever its size (often the batch's largest write). */
export async function insertRunChanges(tx: Pick<pg.PoolClient, "query">, runId: string, rows: RunChangeRow[]): Promise<void> {
  if (rows.length === 0) return;
  await copyRows(tx, "run_change", COLUMNS, rows, (r) => [
    runId,
    r.changeType,
    r.csoId ?? null,
    r.mvoId ?? null,
    r.pendingExportId ?? null,
    r.anchor ?? null,
    r.attributeChanges === undefined || r.attributeChanges === null
      ? null
      : JSON.stringify(PLANNED.has(r.changeType) ? compactPlanned(r.attributeChanges) : r.attributeChanges),
    r.syncRuleId ?? null,
    r.sourceSystemId ?? null,
    r.location ?? null,
    r.errorCode ?? null,
    r.message ?? null,
  ]);
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

/** The rule and source system a run change row names. */
export interface ChangeOrigin {
  syncRuleId: string | null;
  sourceSystemId: string | null;
}

/**
 * Attribute changes are most of a run change's bytes, and nearly all of them name the row's own
 * rule and source: those are left out, as is a null `before`, and expandAttributeChanges puts
 * them back for readers. Values that differ from the row (null included) are kept. The common
 * case, a value set by the row's own rule and source, is the pair `[attribute, after]`: jsonb
 * keeps each object's key names, so the pair is about half the bytes of `{ attribute, after }`.
 */
export function compactAttributeChange(
  change: AttributeDiff & Partial<ChangeOrigin>,
  row: ChangeOrigin,
): Record<string, unknown> | [string, unknown] {
  const compact: Record<string, unknown> = { attribute: change.attribute };
  if (change.before !== null) compact.before = change.before;
  compact.after = change.after;
  if (change.syncRuleId !== undefined && change.syncRuleId !== row.syncRuleId) compact.syncRuleId = change.syncRuleId;
  if (change.sourceSystemId !== undefined && change.sourceSystemId !== row.sourceSystemId)
    compact.sourceSystemId = change.sourceSystemId;
  return Object.keys(compact).length === 2 ? [change.attribute, change.after] : compact;
}

/** The stored attribute changes of a run change row, as readers see them (see compactAttributeChange, compactPlanned). */
export function expandAttributeChanges(stored: unknown, row: ChangeOrigin & { changeType: string }): unknown {
  if (PLANNED.has(row.changeType)) return expandPlanned(stored);
  if (!COMPACTED.has(row.changeType) || !Array.isArray(stored)) return stored;
  return stored.map((c: Record<string, unknown> | [string, unknown]) =>
    Array.isArray(c)
      ? { attribute: c[0], before: null, after: c[1], syncRuleId: row.syncRuleId, sourceSystemId: row.sourceSystemId }
      : {
          attribute: c.attribute,
          before: "before" in c ? c.before : null,
          after: c.after,
          syncRuleId: "syncRuleId" in c ? c.syncRuleId : row.syncRuleId,
          sourceSystemId: "sourceSystemId" in c ? c.sourceSystemId : row.sourceSystemId,
        },
  );
}

/** Change types whose attribute changes are stored compacted. */
const COMPACTED = new Set(["PROJECTED", "MVO_UPDATED"]);

/**
 * Change types whose detail lists planned (or sent) changes: `{ changeType, changes: [{ attribute,
 * operation, values, status }] }`. EXPORTED rows carry the changes sent, the same shape without
 * a status: stored as tuples too (each record of a real-time chain wrote them as objects, the
 * largest of its four run changes). Rows stored before as objects are read back as they are.
 */
const PLANNED = new Set(["EXPORT_PLANNED", "EXPORT_SUPERSEDED", "EXPORT_CANCELLED", "EXPORTED"]);
const PLANNED_KEYS = new Set(["attribute", "operation", "values", "status"]);

type PlannedChange = { attribute: string; operation: string; values: unknown[]; status?: string };
type PlannedTuple = [string, string, unknown[]] | [string, string, unknown[], string];

const isPlannedChange = (c: unknown): c is PlannedChange =>
  typeof c === "object" &&
  c !== null &&
  !Array.isArray(c) &&
  typeof (c as PlannedChange).attribute === "string" &&
  typeof (c as PlannedChange).operation === "string" &&
  Array.isArray((c as PlannedChange).values) &&
  Object.keys(c).every((k) => PLANNED_KEYS.has(k));

/**
 * A planned change is stored as `[attribute, operation, values]`, with its status fourth unless
 * PENDING. Planning writes one run change per planned export, and jsonb keeps the four key names
 * in every object: the tuple is about a third of the bytes (757 -> ~300 per CREATE of 5
 * attributes), and these rows are most of what a full sync writes. Anything else is kept as is.
 */
function compactPlanned(detail: unknown): unknown {
  if (typeof detail !== "object" || detail === null || !Array.isArray((detail as { changes?: unknown }).changes)) return detail;
  const { changes } = detail as { changes: unknown[] };
  return {
    ...detail,
    changes: changes.map((c): unknown =>
      isPlannedChange(c)
        ? c.status === "PENDING"
          ? [c.attribute, c.operation, c.values]
          : [c.attribute, c.operation, c.values, c.status ?? null]
        : c,
    ),
  };
}

function expandPlanned(stored: unknown): unknown {
  if (typeof stored !== "object" || stored === null || !Array.isArray((stored as { changes?: unknown }).changes)) return stored;
  const { changes } = stored as { changes: unknown[] };
  return {
    ...stored,
    changes: changes.map((c) => {
      if (!Array.isArray(c)) return c;
      const [attribute, operation, values, status] = c as PlannedTuple;
      return status === null ? { attribute, operation, values } : { attribute, operation, values, status: status ?? "PENDING" };
    }),
  };
}
