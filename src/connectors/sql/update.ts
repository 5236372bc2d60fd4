import type pg from "pg";
import { applyAttributeChanges, valuesOf } from "../attribute-changes.ts";
import type { ExportChange, ExportResult } from "../connector.ts";
import type { SqlConfig } from "./config.ts";
import { checkColumns } from "./create.ts";
import { qualifiedName, quoteIdent } from "./identifiers.ts";
import type { TableInfo } from "./table.ts";
import { toParameter } from "./values.ts";

const MAX_PARAMETERS = 30_000;
const GIVEN = quoteIdent("metasync$given");

/**
 * Whether an UPDATE can join a bulk statement, and with which others: only REPLACE / REMOVE_ALL
 * (ADD and REMOVE need the current values), never the anchor (a rename). The key is the sorted
 * column list: a bulk statement sets the same columns on every row.
 */
export function bulkUpdateKey(change: ExportChange, table: TableInfo): string | null {
  if (change.changeType !== "UPDATE" || change.anchor === undefined || change.newDn !== undefined) return null;
  if (change.attributes.length === 0) return null;
  const simple = change.attributes.every(
    (c) =>
      (c.operation === "REPLACE" || c.operation === "REMOVE_ALL") &&
      c.attribute !== table.anchor.name &&
      table.columns.has(c.attribute),
  );
  return simple ? [...new Set(change.attributes.map((c) => c.attribute))].sort().join("\u0000") : null;
}

/**
 * UPDATEs setting the same columns, as `UPDATE ... FROM (VALUES ...)`: one round trip per chunk.
 * Anchors must be distinct (a row joined twice would be updated once). A row that is not there is
 * NOT_FOUND without failing the statement; any other failure throws for the caller's fallback.
 */
export async function updateMany(
  client: pg.ClientBase,
  config: SqlConfig,
  table: TableInfo,
  changes: ExportChange[],
): Promise<ExportResult[]> {
  const names = [...new Set(changes[0]!.attributes.map((c) => c.attribute))].sort();
  const multi = (name: string) => table.columns.get(name)?.isArray ?? false;
  const t = qualifiedName(config.schema, config.table);
  const a = quoteIdent(table.anchor.name);
  const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / (names.length + 1)));
  const updated = new Set<string>();
  for (let start = 0; start < changes.length; start += perStatement) {
    const chunk = changes.slice(start, start + perStatement);
    const params: unknown[] = [];
    const tuples = chunk.map((change) => {
      checkColumns(config, table, change);
      const next = applyAttributeChanges({}, change.attributes, multi);
      const cells = names.map((n) => {
        const column = table.columns.get(n)!;
        return `$${params.push(toParameter(valuesOf(next[n]), column))}::${column.sqlType}`;
      });
      return `($${params.push(change.anchor)}::text, ${cells.join(", ")})`;
    });
    const sets = names.map((n) => `${quoteIdent(n)} = v.${quoteIdent(n)}`).join(", ");
    const { rows } = await client.query<{ given: string }>(
      `UPDATE ${t} SET ${sets} FROM (VALUES ${tuples.join(", ")}) AS v(${GIVEN}, ${names.map(quoteIdent).join(", ")})
        WHERE ${t}.${a} = v.${GIVEN}::${table.anchor.sqlType} RETURNING v.${GIVEN} AS given`,
      params,
    );
    for (const row of rows) updated.add(row.given);
  }
  return resultsByAnchor(config, changes, updated);
}

/** DELETEs of distinct anchors as one statement; a row that is not there is already deleted: APPLIED. */
export async function deleteMany(
  client: pg.ClientBase,
  config: SqlConfig,
  table: TableInfo,
  changes: ExportChange[],
): Promise<ExportResult[]> {
  for (const change of changes) checkColumns(config, table, change);
  const t = qualifiedName(config.schema, config.table);
  const a = quoteIdent(table.anchor.name);
  const { rows } = await client.query<{ given: string }>(
    `DELETE FROM ${t} USING unnest($1::text[]) AS k(${GIVEN}) WHERE ${t}.${a} = k.${GIVEN}::${table.anchor.sqlType} RETURNING k.${GIVEN} AS given`,
    [changes.map((c) => c.anchor)],
  );
  const deleted = new Set(rows.map((r) => r.given));
  return resultsByAnchor(config, changes, deleted, true);
}

/**
 * How many changes from `start` one bulk statement can take, and which: consecutive changes of
 * the same kind (CREATE; UPDATE of the same columns; DELETE) with distinct anchors.
 */
export function bulkRun(
  changes: ExportChange[],
  start: number,
  table: TableInfo,
): { kind: "CREATE" | "UPDATE" | "DELETE"; length: number } | null {
  const first = changes[start]!;
  const keyOf = (c: ExportChange): string | null => {
    if (c.changeType === "CREATE") return "CREATE";
    if (c.changeType === "DELETE") return c.anchor === undefined ? null : "DELETE";
    const key = bulkUpdateKey(c, table);
    return key === null ? null : `UPDATE\u0000${key}`;
  };
  const key = keyOf(first);
  if (key === null) return null;
  const anchors = new Set<string>();
  let length = 0;
  for (let i = start; i < changes.length; i++) {
    const c = changes[i]!;
    if (keyOf(c) !== key) break;
    if (c.changeType !== "CREATE") {
      if (anchors.has(c.anchor!)) break;
      anchors.add(c.anchor!);
    }
    length++;
  }
  return length > 1 ? { kind: first.changeType, length } : null;
}

/**
 * APPLIED for the changes whose anchor the statement touched; for the others NOT_FOUND, or
 * APPLIED when missing is the goal (a DELETE retried after a lost reply, or done by someone else).
 */
function resultsByAnchor(
  config: SqlConfig,
  changes: ExportChange[],
  touched: Set<string>,
  missingIsDone = false,
): ExportResult[] {
  return changes.map((c) =>
    touched.has(c.anchor!) || missingIsDone
      ? { id: c.id, status: "APPLIED", anchor: c.anchor }
      : {
          id: c.id,
          status: "PERMANENT_FAILURE",
          code: "NOT_FOUND",
          message: `no row with ${config.anchor} = "${c.anchor}" in ${config.table}`,
        },
  );
}
