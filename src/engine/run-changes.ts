import type pg from "pg";
import { sameJson } from "../util/canonical-json.ts";
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

/**
 * How one attribute changed: its values before and after, or, for a long list, the values added
 * and removed (see attributeDiff).
 */
export type AttributeDiff =
  | { attribute: string; before: unknown; after: unknown }
  | { attribute: string; added: unknown[]; removed: unknown[] };

/**
 * Lists longer than this (before or after) are recorded by the values added and removed. A
 * department group of 100,000 members whose membership moved by 1% was recorded whole twice per
 * run change (before and after: ~2 MB of JSON each time its import or sync saw it), which said
 * less to a reader than the 2,000 values that changed.
 */
export const LONG_LIST = 100;

/**
 * A value's identity in a list diff: a string is itself (no copy per value of a 100,000-value
 * list), anything else its JSON behind a NUL, which no stored string holds (PostgreSQL refuses
 * it in text and jsonb), so 1 and "1" stay different values.
 */
const valueKey = (v: unknown) => (typeof v === "string" ? v : `\u0000${JSON.stringify(v)}`);

/**
 * One attribute's change from `before` to `after` (known to differ). Two lists, one of them long,
 * are recorded as the values added and removed; when those are none (the same values in another
 * order, or repeated), both lists are kept as they are, so the record still shows what differs.
 */
export function attributeDiff(attribute: string, before: unknown, after: unknown): AttributeDiff {
  if (Array.isArray(before) && Array.isArray(after) && Math.max(before.length, after.length) > LONG_LIST) {
    const had = new Set(before.map(valueKey));
    const has = new Set(after.map(valueKey));
    const added = after.filter((v) => !had.has(valueKey(v)));
    const removed = before.filter((v) => !has.has(valueKey(v)));
    if (added.length || removed.length) return { attribute, added, removed };
  }
  return { attribute, before, after };
}

/** Attribute-level differences between two documents (keys in either). */
export function diffAttributes(before: Record<string, unknown>, after: Record<string, unknown>): AttributeDiff[] {
  const diffs: AttributeDiff[] = [];
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const b = before[key] ?? null;
    const a = after[key] ?? null;
    if (!sameJson(b, a)) diffs.push(attributeDiff(key, b, a));
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
  if ("added" in change) {
    compact.added = change.added;
    compact.removed = change.removed;
  } else {
    if (change.before !== null) compact.before = change.before;
    compact.after = change.after;
  }
  if (change.syncRuleId !== undefined && change.syncRuleId !== row.syncRuleId) compact.syncRuleId = change.syncRuleId;
  if (change.sourceSystemId !== undefined && change.sourceSystemId !== row.sourceSystemId)
    compact.sourceSystemId = change.sourceSystemId;
  return Object.keys(compact).length === 2 && "after" in change ? [change.attribute, change.after] : compact;
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
          ...("added" in c
            ? { added: c.added, removed: c.removed }
            : { before: "before" in c ? c.before : null, after: c.after }),
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
