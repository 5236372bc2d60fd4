import type pg from "pg";
import { applyAttributeChanges, valuesOf } from "../attribute-changes.ts";
import type { Attributes, ExportChange, ExportResult } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { SqlConfig } from "./config.ts";
import { connect } from "./connection.ts";
import { checkColumns, insertIsolated, insertMany, insertOne } from "./create.ts";
import { rowFailure, rowName, toConnectorError } from "./errors.ts";
import { qualifiedName, quoteIdent } from "./identifiers.ts";
import { loadTable, type TableInfo } from "./table.ts";
import { bulkRun, deleteMany, updateMany } from "./update.ts";
import { rowToAttributes, toParameter } from "./values.ts";

/**
 * One transaction per batch. The batch first runs straight through (runs of CREATEs as
 * multi-row INSERTs); if a change fails, the transaction is rolled back and the batch re-run
 * with savepoints (per UPDATE/DELETE, per bisected run of CREATEs), so each failing change gets
 * its own permanent failure and the others still apply. A lost connection, timeout or deadlock
 * fails the whole batch as transient: nothing was committed.
 */
export async function exportToSql(
  pool: pg.Pool,
  config: SqlConfig,
  changes: ExportChange[],
  tables: TableCache,
): Promise<ExportResult[]> {
  let client: pg.PoolClient;
  try {
    client = await connect(pool);
  } catch (error) {
    return failAll(changes, toConnectorError(error, "connecting"));
  }
  let broken = false;
  try {
    const table = await tables.get(client);
    const straight = await runBatch(client, config, table, changes, false);
    if (straight) return straight;
    // A change failed: the table may have changed under us (a column dropped): read it again.
    tables.forget();
    return (await runBatch(client, config, await tables.get(client), changes, true))!;
  } catch (error) {
    tables.forget();
    const failed = toConnectorError(error, `export to ${config.schema}.${config.table}`);
    broken = failed.transient;
    await client.query("ROLLBACK").catch(() => {});
    return failAll(changes, failed);
  } finally {
    client.release(broken);
  }
}

/** The configured table's columns, read once and reused until `forget`. */
export interface TableCache {
  get(client: pg.ClientBase): Promise<TableInfo>;
  forget(): void;
}

/**
 * One connector (one export run) reads the table's columns once instead of once per batch
 * (measured: 7 ms of each 100 ms batch of 500 at 50,000 rows). A failed batch forgets them.
 */
export function cachedTable(config: SqlConfig): TableCache {
  let table: TableInfo | null = null;
  return {
    async get(client) {
      table ??= await loadTable(client, config);
      return table;
    },
    forget() {
      table = null;
    },
  };
}

/** The batch's results once committed; null when a change failed without savepoints (rolled back). */
async function runBatch(
  client: pg.ClientBase,
  config: SqlConfig,
  table: TableInfo,
  changes: ExportChange[],
  savepoints: boolean,
): Promise<ExportResult[] | null> {
  const results: ExportResult[] = [];
  await client.query("BEGIN");
  for (let i = 0; i < changes.length; ) {
    const change = changes[i]!;
    // Runs of like changes go in as one statement (a failing run of CREATEs is bisected).
    const bulk = bulkRun(changes, i, table);
    const run = bulk?.length ?? 1;
    if (savepoints && bulk?.kind === "CREATE") {
      results.push(...(await insertIsolated(client, config, table, changes.slice(i, i + run))));
      i += run;
      continue;
    }
    const many = savepoints ? null : bulk;
    if (savepoints) await client.query("SAVEPOINT metasync_change");
    try {
      const slice = changes.slice(i, i + (many?.length ?? 1));
      if (many?.kind === "CREATE") results.push(...(await insertMany(client, config, table, slice)));
      else if (many?.kind === "UPDATE") results.push(...(await updateMany(client, config, table, slice)));
      else if (many?.kind === "DELETE") results.push(...(await deleteMany(client, config, table, slice)));
      else results.push(await applyChange(client, config, table, change));
      if (savepoints) await client.query("RELEASE SAVEPOINT metasync_change");
    } catch (error) {
      const failed = toConnectorError(error, `${change.changeType} ${config.table} ${rowName(config.anchor, change)}`.trim());
      // Lost connection, timeout, deadlock: the whole transaction is gone, the batch fails as one.
      if (failed.transient) throw failed;
      if (!savepoints) {
        await client.query("ROLLBACK");
        return null;
      }
      await client.query("ROLLBACK TO SAVEPOINT metasync_change");
      results.push(rowFailure(change.id, failed));
    }
    i += many?.length ?? 1;
  }
  await client.query("COMMIT");
  return results;
}

async function applyChange(
  client: pg.ClientBase,
  config: SqlConfig,
  table: TableInfo,
  change: ExportChange,
): Promise<ExportResult> {
  if (change.objectType !== config.objectType) {
    throw new ConnectorError(
      "INVALID_INPUT",
      `this table holds "${config.objectType}" objects, not "${change.objectType}"`,
      false,
    );
  }
  checkColumns(config, table, change);
  const t = qualifiedName(config.schema, config.table);
  const a = quoteIdent(table.anchor.name);
  const multi = (name: string) => table.columns.get(name)?.isArray ?? false;

  if (change.changeType === "CREATE") return insertOne(client, config, table, change);
  if (change.anchor === undefined) throw new ConnectorError("INVALID_INPUT", `${change.changeType} needs the anchor`, false);
  if (change.changeType === "DELETE") {
    // A row already gone is what the DELETE wants (a retry after a lost reply): done, not NOT_FOUND.
    await client.query(`DELETE FROM ${t} WHERE ${a} = $1`, [change.anchor]);
    return { id: change.id, status: "APPLIED", anchor: change.anchor };
  }

  // UPDATE. A rename is a new anchor value: `newDn` (SQL rows have no DN: it names the new key)
  // or a REPLACE of the anchor column; the result carries the new anchor.
  const changes = [...change.attributes];
  if (change.newDn !== undefined) changes.push({ attribute: table.anchor.name, operation: "REPLACE", values: [change.newDn] });
  const touched = [...new Set(changes.map((c) => c.attribute))];
  let next: Attributes;
  if (changes.some((c) => c.operation === "ADD" || c.operation === "REMOVE")) {
    // Adding to / removing from an array needs its current values: lock the row and merge here.
    const { rows } = await client.query(`SELECT * FROM ${t} WHERE ${a} = $1 FOR UPDATE`, [change.anchor]);
    if (!rows[0]) throw notFound(config, change.anchor);
    next = applyAttributeChanges(rowToAttributes(rows[0], table), changes, multi);
  } else {
    next = applyAttributeChanges({}, changes, multi);
  }
  if (touched.length === 0) {
    const { rows } = await client.query(`SELECT 1 FROM ${t} WHERE ${a} = $1`, [change.anchor]);
    if (rows.length === 0) throw notFound(config, change.anchor);
    return { id: change.id, status: "APPLIED", anchor: change.anchor };
  }
  const params = touched.map((n) => toParameter(valuesOf(next[n]), table.columns.get(n)!));
  const sets = touched.map((n, i) => `${quoteIdent(n)} = $${i + 1}`).join(", ");
  const { rows } = await client.query<{ anchor: string }>(
    `UPDATE ${t} SET ${sets} WHERE ${a} = $${params.length + 1} RETURNING ${a}::text AS anchor`,
    [...params, change.anchor],
  );
  if (!rows[0]) throw notFound(config, change.anchor);
  return { id: change.id, status: "APPLIED", anchor: rows[0].anchor };
}

function notFound(config: SqlConfig, anchor: string): ConnectorError {
  return new ConnectorError("NOT_FOUND", `no row with ${config.anchor} = "${anchor}" in ${config.table}`, false);
}

function failAll(changes: ExportChange[], error: ConnectorError): ExportResult[] {
  const status = error.transient ? "TRANSIENT_FAILURE" : "PERMANENT_FAILURE";
  return changes.map((c) => ({ id: c.id, status, code: error.code, message: error.message }));
}
