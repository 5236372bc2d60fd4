import type pg from "pg";
import { applyAttributeChanges, valuesOf } from "../attribute-changes.ts";
import type { Attributes, AttributeValue, ExportChange, ExportResult } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { SqlConfig } from "./config.ts";
import { rowFailure, rowName, toConnectorError } from "./errors.ts";
import { qualifiedName, quoteIdent } from "./identifiers.ts";
import type { Column, TableInfo } from "./table.ts";
import { rowToAttributes, toParameter } from "./values.ts";

/** Stay well under PostgreSQL's 65,535 bind parameters per statement. */
const MAX_PARAMETERS = 30_000;

const ANCHOR = "metasync$anchor";
/** The row as inserted (defaults and triggers applied) and its anchor as text. */
const returning = (quotedAnchor: string) => `*, ${quotedAnchor}::text AS "${ANCHOR}"`;

/** A CREATE applied: the anchor, and the row as an import of it reads it (every column, typed alike). */
function applied(change: ExportChange, row: Record<string, unknown>, table: TableInfo): ExportResult {
  return { id: change.id, status: "APPLIED", anchor: String(row[ANCHOR]), attributes: rowToAttributes(row, table) };
}

/** One CREATE; the anchor is the one the database kept (or assigned: serial, identity, default). */
export async function insertOne(
  client: pg.ClientBase,
  config: SqlConfig,
  table: TableInfo,
  change: ExportChange,
): Promise<ExportResult> {
  const attributes = createAttributes(config, table, change);
  const names = Object.keys(attributes);
  const params = names.map((n) => toParameter(valuesOf(attributes[n]), table.columns.get(n)!));
  const t = qualifiedName(config.schema, config.table);
  const a = quoteIdent(table.anchor.name);
  const insert =
    names.length === 0
      ? `INSERT INTO ${t} DEFAULT VALUES`
      : `INSERT INTO ${t} (${names.map(quoteIdent).join(", ")}) VALUES (${names.map((_, i) => `$${i + 1}`).join(", ")})`;
  const keyed = attributes[table.anchor.name] !== undefined;
  // With the anchor known, a row already holding it is ours to join (see reconcile), not a failure.
  const { rows } = await client.query(`${insert}${keyed ? " ON CONFLICT DO NOTHING" : ""} RETURNING ${returning(a)}`, params);
  if (rows[0]) return applied(change, rows[0], table);
  const joined = await reconcile(client, config, table, change, attributes);
  if (joined) return joined;
  // The conflict was on another unique column: insert plainly for the database's own error.
  await client.query(insert, params);
  throw new ConnectorError("INTERNAL", `CREATE ${change.anchor ?? ""} was skipped without a conflict`, false);
}

/** Values as comparable text; timestamps by their instant, since formats differ. */
function sameValues(want: AttributeValue[], have: AttributeValue[], column: Column): boolean {
  if (want.length !== have.length) return false;
  const isTime = column.type === "DATETIME";
  return want.every((w, i) => {
    const h = have[i]!;
    if (String(w) === String(h)) return true;
    return isTime && !Number.isNaN(Date.parse(String(w))) && Date.parse(String(w)) === Date.parse(String(h));
  });
}

/**
 * A CREATE whose anchor is already in the table (our own insert whose commit reply was lost, or
 * a row someone else made): join that row and UPDATE only the columns the CREATE sets that
 * differ. Null when no row has the anchor (the conflict was elsewhere).
 */
async function reconcile(
  client: pg.ClientBase,
  config: SqlConfig,
  table: TableInfo,
  change: ExportChange,
  attributes: Attributes,
): Promise<ExportResult | null> {
  const t = qualifiedName(config.schema, config.table);
  const a = quoteIdent(table.anchor.name);
  const anchor = attributes[table.anchor.name];
  const { rows } = await client.query(`SELECT ${returning(a)} FROM ${t} WHERE ${a} = $1 FOR UPDATE`, [
    toParameter(valuesOf(anchor), table.anchor),
  ]);
  const row = rows[0];
  if (!row) return null;
  const current = rowToAttributes(row, table);
  const set = [...new Set([...change.attributes.map((c) => c.attribute)])].filter((n) => n !== table.anchor.name);
  const differing = set.filter((n) => !sameValues(valuesOf(attributes[n]), valuesOf(current[n]), table.columns.get(n)!));
  if (!differing.length) return applied(change, row, table);
  const params = differing.map((n) => toParameter(valuesOf(attributes[n]), table.columns.get(n)!));
  const { rows: updated } = await client.query(
    `UPDATE ${t} SET ${differing.map((n, i) => `${quoteIdent(n)} = $${i + 1}`).join(", ")} WHERE ${a} = $${params.length + 1} RETURNING ${returning(a)}`,
    [...params, toParameter(valuesOf(anchor), table.anchor)],
  );
  return applied(change, updated[0]!, table);
}

/**
 * Consecutive CREATEs as multi-row INSERTs: one round trip per chunk instead of one per row.
 * A column a row does not set gets DEFAULT (a keyword, not a value). RETURNING yields rows in
 * VALUES order, which pairs each created anchor with its change. Any failure throws: the caller
 * rolls back and re-runs the batch row by row to say which change failed.
 */
export async function insertMany(
  client: pg.ClientBase,
  config: SqlConfig,
  table: TableInfo,
  changes: ExportChange[],
): Promise<ExportResult[]> {
  const rows = changes.map((change) => createAttributes(config, table, change));
  const names = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  if (names.length === 0)
    throw new ConnectorError("INVALID_INPUT", "CREATEs without any attribute: insert them one by one", false);
  const t = qualifiedName(config.schema, config.table);
  const a = quoteIdent(table.anchor.name);
  const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / names.length));
  const results: ExportResult[] = [];
  for (let start = 0; start < rows.length; start += perStatement) {
    const chunk = rows.slice(start, start + perStatement);
    const params: unknown[] = [];
    const tuples = chunk.map(
      (row) =>
        `(${names
          .map((n) =>
            row[n] === undefined ? "DEFAULT" : `$${params.push(toParameter(valuesOf(row[n]), table.columns.get(n)!))}`,
          )
          .join(", ")})`,
    );
    const keyed = chunk.every((row) => row[table.anchor.name] !== undefined);
    const { rows: created } = await client.query(
      `INSERT INTO ${t} (${names.map(quoteIdent).join(", ")}) VALUES ${tuples.join(", ")}${keyed ? " ON CONFLICT DO NOTHING" : ""} RETURNING ${returning(a)}`,
      params,
    );
    if (created.length === chunk.length) {
      created.forEach((row, i) => {
        results.push(applied(changes[start + i]!, row, table));
      });
      continue;
    }
    if (!keyed) throw new ConnectorError("INTERNAL", `inserted ${created.length} of ${chunk.length} rows`, false);
    results.push(...(await joinSkipped(client, config, table, changes.slice(start, start + chunk.length), chunk, created)));
  }
  return results;
}

/**
 * Rows an `ON CONFLICT DO NOTHING` insert skipped: matched to their changes by the database's
 * text of each given anchor (what RETURNING shows), then joined (reconcile). A skipped row whose
 * anchor no row holds conflicted on another unique column: thrown, so the caller isolates it.
 */
async function joinSkipped(
  client: pg.ClientBase,
  config: SqlConfig,
  table: TableInfo,
  changes: ExportChange[],
  rows: Attributes[],
  created: Record<string, unknown>[],
): Promise<ExportResult[]> {
  const { rows: canonical } = await client.query<{ anchor: string }>(
    `SELECT k::${table.anchor.sqlType}::text AS anchor FROM unnest($1::text[]) WITH ORDINALITY AS u(k, i) ORDER BY i`,
    [rows.map((r) => String(valuesOf(r[table.anchor.name])[0]))],
  );
  // The rows inserted, by anchor (a list: the same anchor twice in one batch).
  const inserted = new Map<string, Record<string, unknown>[]>();
  for (const row of created) {
    const anchor = String(row[ANCHOR]);
    const same = inserted.get(anchor);
    if (same) same.push(row);
    else inserted.set(anchor, [row]);
  }
  const results: ExportResult[] = [];
  for (let i = 0; i < changes.length; i++) {
    const anchor = canonical[i]!.anchor;
    const row = inserted.get(anchor)?.shift();
    if (row) {
      results.push(applied(changes[i]!, row, table));
      continue;
    }
    const joined = await reconcile(client, config, table, changes[i]!, rows[i]!);
    if (!joined)
      throw new ConnectorError("ALREADY_EXISTS", `CREATE ${anchor}: a unique column other than the anchor conflicts`, false);
    results.push(joined);
  }
  return results;
}

/**
 * A run of CREATEs where some may fail: tried as one multi-row INSERT under a savepoint, split
 * in halves on failure until each failing change is alone. k bad rows among n cost about
 * 2k·log2(n) statements instead of 3n round trips for a savepoint per row.
 */
export async function insertIsolated(
  client: pg.ClientBase,
  config: SqlConfig,
  table: TableInfo,
  changes: ExportChange[],
): Promise<ExportResult[]> {
  await client.query("SAVEPOINT metasync_run");
  try {
    const results =
      changes.length === 1
        ? [await insertOne(client, config, table, changes[0]!)]
        : await insertMany(client, config, table, changes);
    await client.query("RELEASE SAVEPOINT metasync_run");
    return results;
  } catch (error) {
    const failed = toConnectorError(
      error,
      `CREATE in ${config.table} ${changes.length === 1 ? rowName(config.anchor, changes[0]!) : ""}`.trim(),
    );
    if (failed.transient) throw failed;
    await client.query("ROLLBACK TO SAVEPOINT metasync_run");
    if (changes.length === 1) return [rowFailure(changes[0]!.id, failed)];
    const half = Math.ceil(changes.length / 2);
    return [
      ...(await insertIsolated(client, config, table, changes.slice(0, half))),
      ...(await insertIsolated(client, config, table, changes.slice(half))),
    ];
  }
}

export function checkColumns(config: SqlConfig, table: TableInfo, change: ExportChange): void {
  if (change.objectType !== config.objectType) {
    throw new ConnectorError(
      "INVALID_INPUT",
      `this table holds "${config.objectType}" objects, not "${change.objectType}"`,
      false,
    );
  }
  const unknown = change.attributes.find((c) => !table.columns.has(c.attribute));
  if (unknown) throw new ConnectorError("SCHEMA_VIOLATION", `no column "${unknown.attribute}" in ${config.table}`, false);
}

/** A CREATE's column values: its attributes, plus the anchor column when the engine chose the key. */
export function createAttributes(config: SqlConfig, table: TableInfo, change: ExportChange): Attributes {
  checkColumns(config, table, change);
  const attributes = applyAttributeChanges({}, change.attributes, (name) => table.columns.get(name)?.isArray ?? false);
  const given = attributes[table.anchor.name];
  if (change.anchor !== undefined) {
    if (given !== undefined && String(given) !== change.anchor) {
      throw new ConnectorError(
        "INVALID_INPUT",
        `anchor "${change.anchor}" and column ${table.anchor.name} "${given}" differ`,
        false,
      );
    }
    attributes[table.anchor.name] = change.anchor;
  }
  return attributes;
}
