import type { Connector } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { ConnectorDeps } from "../index.ts";
import type { SqlConfig } from "./config.ts";

// Placeholder until the Sql connector lands (issue 5): refuses clearly instead of pretending.
export async function createSqlConnector(_config: SqlConfig, _deps: ConnectorDeps): Promise<Connector> {
  throw new ConnectorError("UNSUPPORTED", "the SQL connector is not implemented yet", false);
}
