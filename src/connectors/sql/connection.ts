import pg from "pg";
import { toConnectorError } from "./errors.ts";

const TEXT_ARRAY = 1009 as Parameters<typeof pg.types.getTypeParser>[0];
/** date, timestamp, timestamptz and their arrays: kept as PostgreSQL's text (microseconds, no local-time shift). */
const DATE_TYPES = new Set([1082, 1114, 1184]);
const DATE_ARRAY_TYPES = new Set([1182, 1115, 1185]);

export const types = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (DATE_TYPES.has(oid)) return (value: string) => value;
    if (DATE_ARRAY_TYPES.has(oid)) return pg.types.getTypeParser(TEXT_ARRAY, format ?? "text");
    return pg.types.getTypeParser(oid, format ?? "text");
  },
} as pg.CustomTypesConfig;

/** How every connection to a SQL system is made: statement limits, UTC, the type parsers above. */
export function connectionSettings(config: { connectionString: string; timeoutMs: number }) {
  return {
    connectionString: config.connectionString,
    connectionTimeoutMillis: config.timeoutMs,
    statement_timeout: config.timeoutMs,
    // A server that stops answering (no RST) must not hang a run: pg gives up client-side too.
    query_timeout: config.timeoutMs + 1000,
    application_name: "metasync",
    options: "-c TimeZone=UTC",
    keepAlive: true,
    types,
  };
}

/**
 * A pooled connection for one import or export. While it is checked out the pool does not
 * listen for its errors: a server dropping it between queries would otherwise be an uncaught
 * exception. The next query on it fails, which is where the run learns of it.
 */
export async function connect(pool: pg.Pool): Promise<pg.PoolClient> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw toConnectorError(error, "connecting");
  }
  const ignore = () => {};
  client.on("error", ignore);
  const release = client.release.bind(client);
  client.release = (destroy?: boolean | Error) => {
    client.off("error", ignore);
    client.release = release;
    release(destroy);
  };
  return client;
}
