import { basename } from "node:path";
import { isDirectorySecret } from "../../secrets.ts";
import { iterateWorker } from "../../util/worker.ts";
import type { RecordError } from "../connector.ts";
import { ConnectorError, type ConnectorErrorCode } from "../connector.ts";
import { contentHashOfJson } from "../content-hash.ts";
import type { CsvConfig } from "./config.ts";
import { readCsvBatches, rowError } from "./reader.ts";

/**
 * A data row ready for import, or a located record error. A row's attributes come as their
 * canonical JSON, which is what its content hash is taken of: they cross from the worker as one
 * string (an object per row cost ~100 ms per 100k rows to receive), and are parsed only when
 * read (see CsvObject: an unchanged re-import never reads them).
 */
export type CsvRow = DataRow | ErrorRow;
export interface DataRow {
  kind: "row";
  index: number;
  line: number;
  anchor: string;
  json: string;
  contentHash: string;
  /** No column of the file's header is a directory secret (isDirectorySecret). */
  withoutSecrets: boolean;
}
export type ErrorRow = { kind: "error"; index: number; line: number; error: RecordError };

/**
 * Files from this size on are parsed in a worker thread. Parsing and hashing are most of a CSV
 * import's CPU: on its own thread they overlap with the engine's work instead of adding to it.
 * Smaller files are read in this thread, where starting a worker (~150-200 ms) would cost more
 * than it saves.
 */
export const WORKER_MIN_BYTES = 1024 * 1024;

/**
 * The file's rows in batches, in file order, each hashed with the engine's contentHash (its
 * attributes are built with their keys in sorted order: contentHashOfJson), de-duplicated by
 * anchor: a second row with a seen anchor is a record error. Pass `anchors` to de-duplicate
 * against that set in this thread (it ends up holding every anchor of the file, for a caller
 * that needs them anyway); otherwise the reading thread keeps its own.
 */
export function readRows(config: CsvConfig, fileBytes: number, anchors?: Set<string>): AsyncGenerator<CsvRow[]> {
  const inWorker = fileBytes >= WORKER_MIN_BYTES;
  // The worker de-duplicates against a set of its own, unless the caller keeps the anchors.
  const job: RowsJob = { config, dedupe: inWorker && !anchors };
  const packed = inWorker
    ? iterateWorker<PackedRows>(new URL("./rows-worker.ts", import.meta.url), job, (e) => {
        const details = e.details as { code: ConnectorErrorCode; transient: boolean } | null;
        return details ? new ConnectorError(details.code, e.message, details.transient) : new Error(e.message);
      })
    : packedRows(job);
  const rows = unpackRows(packed);
  return job.dedupe ? rows : dedupeRows(rows, config, anchors ?? new Set());
}

export interface RowsJob {
  config: CsvConfig;
  dedupe: boolean;
}

/**
 * The file's rows as packed batches, hashed, de-duplicated by anchor if `dedupe`: what the
 * worker posts (and readRows reads in this thread for a small file). Built column by column as
 * the rows are read: no object per row is kept.
 */
export async function* packedRows({ config, dedupe }: RowsJob): AsyncGenerator<PackedRows> {
  const file = basename(config.path);
  const anchors = new Set<string>();
  let withoutSecrets = false;
  const onHeader = (columns: string[]) => {
    withoutSecrets = !columns.some(isDirectorySecret);
  };
  for await (const events of readCsvBatches(config, { onHeader })) {
    const lines: number[] = [];
    const first = events[0]?.index ?? 0;
    const batch: PackedRows = { first, lines: EMPTY, anchors: [], jsons: [], hashes: [], errors: [], withoutSecrets };
    for (const event of events) {
      if (event.kind === "error") batch.errors.push(event);
      else if (dedupe && anchors.has(event.anchor)) batch.errors.push(duplicateRow(event, file));
      else {
        // Anchors only (not rows) are kept: memory grows by ~45 bytes a row.
        if (dedupe) anchors.add(event.anchor);
        lines.push(event.line);
        batch.anchors.push(event.anchor);
        batch.jsons.push(event.json);
        batch.hashes.push(contentHashOfJson(event.json));
      }
    }
    batch.lines = Int32Array.from(lines);
    yield batch;
  }
}
const EMPTY = new Int32Array(0);

async function* dedupeRows(rows: AsyncIterable<CsvRow[]>, config: CsvConfig, anchors: Set<string>): AsyncGenerator<CsvRow[]> {
  const file = basename(config.path);
  for await (const batch of rows)
    yield batch.map((row) => {
      if (row.kind === "error") return row;
      if (anchors.has(row.anchor)) return duplicateRow(row, file);
      anchors.add(row.anchor);
      return row;
    });
}

/** A row whose anchor an earlier row of the file had: a located error (the first row wins). */
function duplicateRow(row: { index: number; line: number; anchor: string }, file: string): ErrorRow {
  return rowError(file, row.line, row.index, `duplicate anchor "${row.anchor}": the first row with it wins`, row.anchor);
}

/**
 * A batch of rows as the worker posts it: one array per field, because structured cloning costs
 * per object (5,000 row objects took about twice as long to receive as these arrays). Rows
 * and errors together cover the indexes from `first` on, in order.
 */
export interface PackedRows {
  first: number;
  lines: Int32Array;
  anchors: string[];
  jsons: string[];
  hashes: string[];
  errors: ErrorRow[];
  withoutSecrets: boolean;
}

async function* unpackRows(batches: AsyncIterable<PackedRows>): AsyncGenerator<CsvRow[]> {
  for await (const { first, lines, anchors, jsons, hashes, errors, withoutSecrets } of batches) {
    const rows: CsvRow[] = [];
    const end = first + anchors.length + errors.length;
    for (let index = first, r = 0, e = 0; index < end; index++) {
      if (errors[e]?.index === index) rows.push(errors[e++]!);
      else {
        const line = lines[r]!;
        rows.push({ kind: "row", index, line, anchor: anchors[r]!, json: jsons[r]!, contentHash: hashes[r]!, withoutSecrets });
        r++;
      }
    }
    yield rows;
  }
}
