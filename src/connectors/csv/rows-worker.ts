// Worker thread of readRows: parses and hashes CSV files, streaming batches of rows back.
import { serveJobs } from "../../util/worker.ts";
import { ConnectorError } from "../connector.ts";
import type { CsvConfig } from "./config.ts";
import { hashedRows } from "./rows.ts";

serveJobs(
  (config: CsvConfig) => hashedRows(config),
  (error) => (error instanceof ConnectorError ? { code: error.code, transient: error.transient } : null),
);
