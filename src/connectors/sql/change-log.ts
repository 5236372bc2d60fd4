import type pg from "pg";
import type { ConnectorObject } from "../connector.ts";
import type { SqlConfig } from "./config.ts";
import { qualifiedName, quoteIdent } from "./identifiers.ts";
import { loadTable, type TableInfo } from "./table.ts";
import { rowToAttributes } from "./values.ts";

/**
 * Change notifications of a source table, installed in the SOURCE database on an admin's explicit
 * request (installChangeNotifications), for one connected system (the consumer):
 *
 * - table `<schema>.metasync_change_log (id bigserial, consumer text, anchor text, logged_at)`:
 *   the anchors of changed rows, until the consumer's watcher has pushed them (it then deletes
 *   its rows). Durable, unlike a notification: changes made while no watcher listens are kept.
 * - function `<schema>.metasync_log_change()` (SECURITY DEFINER, fixed search_path: whoever
 *   writes the table needs no right on the log): logs OLD's and NEW's anchor, then
 *   `pg_notify('metasync_change', consumer)`, delivered when the writing transaction commits.
 * - trigger `metasync_<consumer without dashes>` AFTER INSERT OR UPDATE OR DELETE ... FOR EACH
 *   ROW on the table, with the consumer and the anchor column as arguments.
 *
 * Removing (removeChangeNotifications) drops the trigger and the consumer's log rows, and the
 * function and log table once no trigger uses them. TRUNCATE is not logged (a full import sees it).
 */
export const CHANGE_CHANNEL = "metasync_change";
export const CHANGE_LOG = "metasync_change_log";
export const CHANGE_FUNCTION = "metasync_log_change";

export const changeTrigger = (consumer: string) => `metasync_${consumer.replaceAll("-", "")}`;

const literal = (value: string) => `'${value.replaceAll("'", "''")}'`;

export interface ChangeLogNames {
  table: string;
  logTable: string;
  function: string;
  trigger: string;
  channel: string;
}

export function changeLogNames(config: SqlConfig, consumer: string): ChangeLogNames {
  return {
    table: `${config.schema}.${config.table}`,
    logTable: `${config.schema}.${CHANGE_LOG}`,
    function: `${config.schema}.${CHANGE_FUNCTION}()`,
    trigger: changeTrigger(consumer),
    channel: CHANGE_CHANNEL,
  };
}

/** The statements install runs, in order (one transaction). */
export function installStatements(config: SqlConfig, consumer: string): string[] {
  const log = qualifiedName(config.schema, CHANGE_LOG);
  const fn = qualifiedName(config.schema, CHANGE_FUNCTION);
  const trigger = quoteIdent(changeTrigger(consumer));
  return [
    `CREATE TABLE IF NOT EXISTS ${log} (
       id bigserial PRIMARY KEY,
       consumer text NOT NULL,
       anchor text NOT NULL,
       logged_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${CHANGE_LOG}_consumer_idx`)} ON ${log} (consumer, id)`,
    // The anchor as the connector reads it (column::text), whatever the column's type.
    `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
       SET search_path = pg_catalog, pg_temp AS $metasync$
     DECLARE
       old_anchor text;
       new_anchor text;
     BEGIN
       IF TG_OP <> 'INSERT' THEN
         EXECUTE format('SELECT ($1).%I::text', TG_ARGV[1]) USING OLD INTO old_anchor;
       END IF;
       IF TG_OP <> 'DELETE' THEN
         EXECUTE format('SELECT ($1).%I::text', TG_ARGV[1]) USING NEW INTO new_anchor;
       END IF;
       IF old_anchor IS NOT NULL THEN
         EXECUTE format('INSERT INTO %I.%I (consumer, anchor) VALUES ($1, $2)', TG_TABLE_SCHEMA, ${literal(CHANGE_LOG)})
           USING TG_ARGV[0], old_anchor;
       END IF;
       IF new_anchor IS NOT NULL AND new_anchor IS DISTINCT FROM old_anchor THEN
         EXECUTE format('INSERT INTO %I.%I (consumer, anchor) VALUES ($1, $2)', TG_TABLE_SCHEMA, ${literal(CHANGE_LOG)})
           USING TG_ARGV[0], new_anchor;
       END IF;
       PERFORM pg_notify(${literal(CHANGE_CHANNEL)}, TG_ARGV[0]);
       RETURN NULL;
     END
     $metasync$`,
    `DROP TRIGGER IF EXISTS ${trigger} ON ${qualifiedName(config.schema, config.table)}`,
    `CREATE TRIGGER ${trigger} AFTER INSERT OR UPDATE OR DELETE ON ${qualifiedName(config.schema, config.table)}
       FOR EACH ROW EXECUTE FUNCTION ${fn}(${literal(consumer)}, ${literal(config.anchor)})`,
  ];
}

export async function installChangeLog(client: pg.ClientBase, config: SqlConfig, consumer: string): Promise<void> {
  await loadTable(client, config); // a missing table or anchor column: the connector's clear error
  await inTransaction(client, async () => {
    for (const statement of installStatements(config, consumer)) await client.query(statement);
  });
}

export async function removeChangeLog(client: pg.ClientBase, config: SqlConfig, consumer: string): Promise<void> {
  const log = qualifiedName(config.schema, CHANGE_LOG);
  await inTransaction(client, async () => {
    await client.query(
      `DROP TRIGGER IF EXISTS ${quoteIdent(changeTrigger(consumer))} ON ${qualifiedName(config.schema, config.table)}`,
    );
    if (await logExists(client, config)) await client.query(`DELETE FROM ${log} WHERE consumer = $1`, [consumer]);
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace s ON s.oid = p.pronamespace
        WHERE p.proname = $1 AND s.nspname = $2`,
      [CHANGE_FUNCTION, config.schema],
    );
    if (rows[0]?.n === 0) {
      await client.query(`DROP FUNCTION IF EXISTS ${qualifiedName(config.schema, CHANGE_FUNCTION)}()`);
      await client.query(`DROP TABLE IF EXISTS ${log}`);
    }
  });
}

/** Whether the consumer's trigger is on the table. */
export async function changeLogInstalled(client: pg.ClientBase, config: SqlConfig, consumer: string): Promise<boolean> {
  const { rows } = await client.query(
    `SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace s ON s.oid = c.relnamespace
      WHERE t.tgname = $1 AND c.relname = $2 AND s.nspname = $3`,
    [changeTrigger(consumer), config.table, config.schema],
  );
  return rows.length > 0;
}

async function logExists(client: pg.ClientBase, config: SqlConfig): Promise<boolean> {
  const { rows } = await client.query<{ t: string | null }>("SELECT to_regclass($1)::text AS t", [
    qualifiedName(config.schema, CHANGE_LOG),
  ]);
  return rows[0]?.t != null;
}

/** The consumer's oldest logged changes: their ids (to forget once pushed) and distinct anchors. */
export async function readChanges(client: pg.ClientBase, config: SqlConfig, consumer: string, limit: number) {
  const { rows } = await client.query<{ id: string; anchor: string }>(
    `SELECT id::text, anchor FROM ${qualifiedName(config.schema, CHANGE_LOG)} WHERE consumer = $1 ORDER BY id LIMIT $2`,
    [consumer, limit],
  );
  return { ids: rows.map((r) => r.id), anchors: [...new Set(rows.map((r) => r.anchor))] };
}

/**
 * Forget exactly the changes read (not "up to an id": a transaction that took a smaller id may
 * commit after the read, and its change must stay for the next read).
 */
export async function forgetChanges(client: pg.ClientBase, config: SqlConfig, ids: string[]): Promise<void> {
  await client.query(`DELETE FROM ${qualifiedName(config.schema, CHANGE_LOG)} WHERE id = ANY($1::bigint[])`, [ids]);
}

/** The rows of `anchors` as the connector imports them; anchors without a row are gone. */
export async function readByAnchors(
  client: pg.ClientBase,
  config: SqlConfig,
  table: TableInfo,
  anchors: string[],
): Promise<{ objects: ConnectorObject[]; missing: string[] }> {
  const a = quoteIdent(table.anchor.name);
  // As the delta import's delete check: the anchors cast to the column's type, so its index serves.
  const { rows } = await client.query(
    `SELECT *, ${a}::text AS "metasync$anchor" FROM ${qualifiedName(config.schema, config.table)} WHERE ${a} = ANY($1)`,
    [anchors],
  );
  const objects = rows.map(
    (r): ConnectorObject => ({
      objectType: config.objectType,
      anchor: String(r["metasync$anchor"]),
      attributes: rowToAttributes(r, table),
    }),
  );
  const present = new Set(objects.map((o) => o.anchor));
  return { objects, missing: anchors.filter((x) => !present.has(x)) };
}

export { loadTable };

async function inTransaction(client: pg.ClientBase, work: () => Promise<void>) {
  await client.query("BEGIN");
  try {
    await work();
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}
