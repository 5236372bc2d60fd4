// Worker thread of readRows: parses and hashes CSV files, streaming batches of rows back.
import { serveJobs } from "../../util/worker.ts";
import { ConnectorError } from "../connector.ts";
import { hashedRows, type RowsJob } from "./rows.ts";

serveJobs(
  (job: RowsJob) => hashedRows(job),
  (error) => (error instanceof ConnectorError ? { code: error.code, transient: error.transient } : null),
);
