import pg from "pg";
import { withTimeout } from "../../util/timeout.ts";
import type { Connector } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { ConnectorDeps } from "../deps.ts";
import type { SqlConfig } from "./config.ts";
import { connect, connectionSettings } from "./connection.ts";
import { toConnectorError } from "./errors.ts";
import { cachedTable, exportToSql } from "./export.ts";
import { importDelta, importFull } from "./import.ts";
import { describe, loadTable } from "./table.ts";

/**
 * A PostgreSQL table or view as a connected system: rows keyed by the anchor column, read in
 * keyset pages, delta by a watermark column, exported with parameterised statements.
 */
export async function createSqlConnector(config: SqlConfig, deps: ConnectorDeps): Promise<Connector> {
  const logger = deps.logger.child({ connector: "sql", table: `${config.schema}.${config.table}` });
  const connection = connectionSettings(config);
  const pool = new pg.Pool({ ...connection, max: 3 });
  const exportTable = cachedTable(config);
  // An idle connection the server drops must not crash the process; the next use reconnects.
  pool.on("error", (error) => logger.warn({ err: error.message }, "idle PostgreSQL connection lost"));

  return {
    capabilities: {
      fullImport: true,
      deltaImport: config.watermarkColumn !== undefined,
      export: true,
      schemaDiscovery: true,
      rename: true,
    },

    async testConnection(timeoutMs = config.timeoutMs) {
      const client = new pg.Client({ ...connection, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
      client.on("error", () => {});
      const check = async () => {
        await client.connect();
        const { rows } = await client.query<{ version: string }>("SELECT current_setting('server_version') AS version");
        const table = await loadTable(client, config);
        return `PostgreSQL ${rows[0]?.version}: ${config.schema}.${config.table} has ${table.columns.size} columns`;
      };
      try {
        const message = await withTimeout(check(), timeoutMs, () => {
          throw new ConnectorError("TIMEOUT", `no answer from PostgreSQL within ${timeoutMs} ms`);
        });
        return { message };
      } catch (error) {
        throw toConnectorError(error, "testing the connection");
      } finally {
        void client.end().catch(() => {});
      }
    },

    async discoverSchema() {
      let client: pg.PoolClient | undefined;
      try {
        client = await connect(pool);
        return { objectTypes: [describe(config, await loadTable(client, config))] };
      } catch (error) {
        throw toConnectorError(error, "discovering the schema");
      } finally {
        client?.release();
      }
    },

    importFull: (checkpoint) => importFull(pool, config, checkpoint),
    importDelta: (watermark, checkpoint, context) => importDelta(pool, config, watermark, checkpoint, context),
    export: (changes) => exportToSql(pool, config, changes, exportTable),

    async close() {
      await pool.end();
    },
  };
}
