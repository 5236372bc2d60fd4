import { contentHashOfSorted } from "../../engine/hash.ts";
import { iterateWorker } from "../../util/worker.ts";
import type { Attributes, RecordError } from "../connector.ts";
import { ConnectorError, type ConnectorErrorCode } from "../connector.ts";
import type { CsvConfig } from "./config.ts";
import { readCsvBatches } from "./reader.ts";

/** A data row ready for import (with its content hash), or a located record error. */
export type CsvRow =
  | { kind: "row"; index: number; line: number; anchor: string; attributes: Attributes; contentHash: string }
  | { kind: "error"; index: number; line: number; error: RecordError };

/**
 * Files from this size on are parsed in a worker thread. Parsing and hashing are most of a CSV
 * import's CPU: on its own thread they overlap with the engine's work instead of adding to it.
 * Smaller files are read in this thread, where starting a worker (~150-200 ms) would cost more
 * than it saves.
 */
export const WORKER_MIN_BYTES = 1024 * 1024;

/**
 * The file's rows in batches, in file order, each hashed with the engine's contentHash (its
 * attributes are built with their keys in sorted order: contentHashOfSorted), de-duplicated by
 * anchor: a second row with a seen anchor is a record error. Pass `anchors` to de-duplicate
 * against that set in this thread (it ends up holding every anchor of the file, for a caller
 * that needs them anyway); otherwise the reading thread keeps its own.
 */
export function readRows(config: CsvConfig, fileBytes: number, anchors?: Set<string>): AsyncGenerator<CsvRow[]> {
  if (fileBytes < WORKER_MIN_BYTES) return hashedRows({ config, dedupe: true }, anchors);
  const rows = iterateWorker<CsvRow>(new URL("./rows-worker.ts", import.meta.url), { config, dedupe: !anchors }, (e) => {
    const details = e.details as { code: ConnectorErrorCode; transient: boolean } | null;
    return details ? new ConnectorError(details.code, e.message, details.transient) : new Error(e.message);
  });
  return anchors ? dedupeRows(rows, config, anchors) : rows;
}

export interface RowsJob {
  config: CsvConfig;
  dedupe: boolean;
}

/** readRows in the calling thread (the worker runs this too). */
export async function* hashedRows({ config, dedupe }: RowsJob, anchors = new Set<string>()): AsyncGenerator<CsvRow[]> {
  for await (const events of readCsvBatches(config)) {
    const batch: CsvRow[] = [];
    for (const event of events) {
      if (event.kind === "error") batch.push(event);
      else {
        const { index, line, anchor, attributes } = event;
        batch.push({ kind: "row", index, line, anchor, attributes, contentHash: contentHashOfSorted(attributes) });
      }
    }
    yield dedupe ? markDuplicates(batch, config, anchors) : batch;
  }
}

async function* dedupeRows(rows: AsyncIterable<CsvRow[]>, config: CsvConfig, anchors: Set<string>): AsyncGenerator<CsvRow[]> {
  for await (const batch of rows) yield markDuplicates(batch, config, anchors);
}

/** Rows whose anchor is in `anchors` become located errors; the others' anchors are added. */
function markDuplicates(batch: CsvRow[], config: CsvConfig, anchors: Set<string>): CsvRow[] {
  const file = config.path.split("/").pop();
  return batch.map((row) => {
    if (row.kind === "error") return row;
    if (!anchors.has(row.anchor)) {
      // Anchors only (not rows) are kept: memory grows by ~45 bytes a row.
      anchors.add(row.anchor);
      return row;
    }
    const message = `duplicate anchor "${row.anchor}": the first row with it wins`;
    const error = { location: `${file}:${row.line}`, code: "INVALID_INPUT" as const, message, anchor: row.anchor };
    return { kind: "error", index: row.index, line: row.line, error };
  });
}
