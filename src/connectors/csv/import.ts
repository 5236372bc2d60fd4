import { stat } from "node:fs/promises";
import {
  type Attributes,
  ConnectorError,
  type ConnectorObject,
  type ImportContext,
  type ImportPage,
  type RecordError,
} from "../connector.ts";
import type { CsvConfig } from "./config.ts";
import { fileError } from "./errors.ts";
import { type DataRow, readRows } from "./rows.ts";

/** Which version of the file an import read: the watermark, and the guard on a checkpoint. */
export interface CsvFingerprint {
  size: number;
  mtimeMs: number;
}

/**
 * Position after a page: `row` data rows of the file are done. `phase: "deletes"`: every row is
 * done and the delta's delete detection is under way (it is re-run whole on resume: deletes the
 * engine already applied are no longer among its stored anchors).
 */
export interface CsvCheckpoint extends CsvFingerprint {
  row: number;
  phase?: "rows" | "deletes";
}

export async function fingerprint(path: string): Promise<CsvFingerprint> {
  try {
    const s = await stat(path);
    return { size: s.size, mtimeMs: s.mtimeMs };
  } catch (error) {
    throw fileError(error, path);
  }
}

/**
 * Resume only on the same file version: row N of a rewritten file is another row. Otherwise
 * start over, which is safe because the engine stores objects by anchor.
 */
function resumeFrom(checkpoint: unknown, current: CsvFingerprint): CsvCheckpoint {
  const c = checkpoint as Partial<CsvCheckpoint> | null;
  if (c && typeof c.row === "number" && sameFile(c, current)) return { ...current, row: c.row, phase: c.phase ?? "rows" };
  return { ...current, row: 0, phase: "rows" };
}

function sameFile(a: Partial<CsvFingerprint> | null, b: CsvFingerprint): boolean {
  return !!a && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/**
 * The file must still be the version the read started on before its last page, which lets the
 * engine infer deletes (full import: every anchor not seen; delta: stored anchors not in the
 * file). A file rewritten or truncated in place while it was read gives part of one version and
 * part of another, or half a file: taken as the truth, it would delete everyone after the cut.
 * Transient: the run is retried, and the retry reads the new version from its start.
 */
async function unchangedSince(path: string, read: CsvFingerprint): Promise<void> {
  const now = await fingerprint(path);
  if (sameFile(read, now)) return;
  const name = path.split("/").pop() ?? path;
  throw new ConnectorError(
    "INVALID_INPUT",
    `${name} changed while it was read (${read.size} bytes when the read started, ${now.size} now): nothing is inferred from this read; the import starts over on the new version`,
    true,
  );
}

export async function* importFull(config: CsvConfig, checkpoint: unknown): AsyncGenerator<ImportPage> {
  const file = await fingerprint(config.path);
  const start = resumeFrom(checkpoint, file).row;
  let objects: ConnectorObject[] = [];
  let errors: RecordError[] = [];
  let row = 0;
  for await (const batch of readRows(config, file.size)) {
    for (const event of batch) {
      row = event.index + 1;
      if (event.index < start) continue;
      if (event.kind === "row") objects.push(toObject(config, event));
      else errors.push(event.error);
      if (objects.length + errors.length >= config.pageSize) {
        yield { objects, deletes: [], errors, checkpoint: { ...file, row } satisfies CsvCheckpoint };
        objects = [];
        errors = [];
      }
    }
  }
  await unchangedSince(config.path, file);
  yield { objects, deletes: [], errors, checkpoint: { ...file, row: Math.max(row, start) }, watermark: file };
}

/**
 * A CSV file has no change log: compare each row's content hash with what the engine stored at
 * the last import (changed or new rows are emitted), then every stored anchor with the file's
 * anchors (missing ones are deletes).
 */
export async function* importDelta(
  config: CsvConfig,
  watermark: unknown,
  checkpoint: unknown,
  context: ImportContext,
): AsyncGenerator<ImportPage> {
  const file = await fingerprint(config.path);
  if (checkpoint === null && sameFile(watermark as Partial<CsvFingerprint> | null, file)) {
    // Same size and modification time as at the last import: nothing to read.
    yield { objects: [], deletes: [], errors: [], checkpoint: { ...file, row: 0, phase: "deletes" }, watermark: file };
    return;
  }
  const resume = resumeFrom(checkpoint, file);
  const anchors = new Set<string>();
  let candidates: ConnectorObject[] = [];
  let errors: RecordError[] = [];
  let malformed = 0;
  let row = 0;
  const page = async (): Promise<ImportPage> => {
    const stored = await context.storedHashes(
      config.objectType,
      candidates.map((o) => o.anchor),
    );
    const objects = candidates.filter((o) => stored.get(o.anchor) !== o.contentHash);
    const result: ImportPage = { objects, deletes: [], errors, checkpoint: { ...file, row, phase: "rows" } };
    candidates = [];
    errors = [];
    return result;
  };
  // The file's anchors, for delete detection: readRows de-duplicates against them here, so
  // they are not held twice (here and in a worker).
  for await (const batch of readRows(config, file.size, anchors)) {
    for (const event of batch) {
      row = event.index + 1;
      if (event.kind === "error") malformed++;
      if (resume.phase === "deletes" || event.index < resume.row) continue;
      if (event.kind === "row") candidates.push(toObject(config, event));
      else errors.push(event.error);
      if (candidates.length + errors.length >= config.pageSize) yield await page();
    }
  }
  if (candidates.length + errors.length > 0) yield await page();
  await unchangedSince(config.path, file);

  if (malformed > 0) {
    // A malformed row's anchor is unknown: deleting what it may hold would drop a real identity.
    const message = `${malformed} malformed row(s): deletes are not detected until they are fixed`;
    const location = config.path.split("/").pop() ?? config.path;
    yield {
      objects: [],
      deletes: [],
      errors: [{ location, code: "INVALID_INPUT", message }],
      checkpoint: { ...file, row, phase: "deletes" },
      watermark: file,
    };
    return;
  }
  for await (const stored of context.storedAnchors(config.objectType)) {
    const deletes = stored.filter((a) => !anchors.has(a)).map((anchor) => ({ objectType: config.objectType, anchor }));
    if (deletes.length > 0) yield { objects: [], deletes, errors: [], checkpoint: { ...file, row, phase: "deletes" } };
  }
  yield { objects: [], deletes: [], errors: [], checkpoint: { ...file, row, phase: "deletes" }, watermark: file };
}

function toObject(config: CsvConfig, row: DataRow): ConnectorObject {
  return new CsvObject(config.objectType, row.anchor, row.contentHash, row.json, row.withoutSecrets);
}

/**
 * A row's object, its attributes parsed from their JSON on first read. The engine reads the
 * attributes of the objects it validates and writes; an object it finds unchanged (same
 * content hash, schema already checked) is never parsed.
 */
class CsvObject implements ConnectorObject {
  private parsed: Attributes | null = null;
  constructor(
    readonly objectType: string,
    readonly anchor: string,
    readonly contentHash: string,
    readonly attributesJson: string,
    readonly withoutSecrets: boolean,
  ) {}

  get attributes(): Attributes {
    this.parsed ??= JSON.parse(this.attributesJson) as Attributes;
    return this.parsed;
  }
}
