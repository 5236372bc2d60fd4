// Worker thread of readRows: parses and hashes CSV files, streaming batches of rows back.
import { serveJobs } from "../../util/worker.ts";
import { ConnectorError } from "../connector.ts";
import { hashedRows, packRows, type RowsJob } from "./rows.ts";

serveJobs(
  async function* (job: RowsJob) {
    for await (const batch of hashedRows(job)) yield packRows(batch);
  },
  (error) => (error instanceof ConnectorError ? { code: error.code, transient: error.transient } : null),
);
