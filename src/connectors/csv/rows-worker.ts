// Worker thread of readRows: parses and hashes CSV files, streaming batches of rows back.
import { serveJobs } from "../../util/worker.ts";
import { ConnectorError } from "../connector.ts";
import { packedRows, type RowsJob } from "./rows.ts";

serveJobs(
  (job: RowsJob) => packedRows(job),
  (error) => (error instanceof ConnectorError ? { code: error.code, transient: error.transient } : null),
);
