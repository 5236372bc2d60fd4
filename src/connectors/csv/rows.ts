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
 * The file's rows in batches, in file order, de-duplicated by anchor (a second row with a seen
 * anchor is a record error), each row hashed with the engine's contentHash (its attributes are
 * built with their keys in sorted order: contentHashOfSorted).
 */
export function readRows(config: CsvConfig, fileBytes: number): AsyncGenerator<CsvRow[]> {
  if (fileBytes < WORKER_MIN_BYTES) return hashedRows(config);
  return iterateWorker<CsvRow>(new URL("./rows-worker.ts", import.meta.url), config, (e) => {
    const details = e.details as { code: ConnectorErrorCode; transient: boolean } | null;
    return details ? new ConnectorError(details.code, e.message, details.transient) : new Error(e.message);
  });
}

/** readRows in the calling thread (the worker runs this too). */
export async function* hashedRows(config: CsvConfig): AsyncGenerator<CsvRow[]> {
  const anchors = new Set<string>();
  const file = config.path.split("/").pop();
  for await (const events of readCsvBatches(config)) {
    const batch: CsvRow[] = [];
    for (const event of events) {
      if (event.kind === "error") batch.push(event);
      else if (anchors.has(event.anchor)) {
        const message = `duplicate anchor "${event.anchor}": the first row with it wins`;
        const error = { location: `${file}:${event.line}`, code: "INVALID_INPUT" as const, message, anchor: event.anchor };
        batch.push({ kind: "error", index: event.index, line: event.line, error });
      } else {
        // Anchors only (not rows) are kept, to report duplicates: memory grows by ~45 bytes a row.
        anchors.add(event.anchor);
        const { index, line, anchor, attributes } = event;
        batch.push({ kind: "row", index, line, anchor, attributes, contentHash: contentHashOfSorted(attributes) });
      }
    }
    yield batch;
  }
}
