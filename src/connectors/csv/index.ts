import type { Connector } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { ConnectorDeps } from "../index.ts";
import type { CsvConfig } from "./config.ts";

// Placeholder until the Csv connector lands (issue 5): refuses clearly instead of pretending.
export async function createCsvConnector(_config: CsvConfig, _deps: ConnectorDeps): Promise<Connector> {
  throw new ConnectorError("UNSUPPORTED", "the CSV connector is not implemented yet", false);
}
