import { randomBytes } from "node:crypto";
import { type FileHandle, open, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import iconv from "iconv-lite";
import { applyAttributeChanges } from "../attribute-changes.ts";
import type { Attributes, ExportChange, ExportResult } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { CsvConfig } from "./config.ts";
import { fileError } from "./errors.ts";
import { readCsv } from "./reader.ts";

interface Pending {
  change: ExportChange;
  anchor: string;
}

/**
 * Applies a batch to the file: streams the current rows into a temp file in the same directory
 * (changed rows rewritten, untouched rows copied verbatim, created rows appended), fsyncs it and
 * renames it over the original, so a reader or a crash sees the old file or the new one, never half.
 */
export async function exportToCsv(config: CsvConfig, changes: ExportChange[]): Promise<ExportResult[]> {
  const results = new Map<string, ExportResult>();
  const byAnchor = new Map<string, Pending[]>();
  for (const change of changes) {
    try {
      const anchor = anchorOf(config, change);
      byAnchor.set(anchor, [...(byAnchor.get(anchor) ?? []), { change, anchor }]);
    } catch (error) {
      results.set(change.id, failure(change.id, error));
    }
  }
  if (byAnchor.size === 0) return changes.map((c) => results.get(c.id)!);
  try {
    await rewrite(config, byAnchor, changes, results);
  } catch (error) {
    const failed = fileError(error, config.path);
    // Nothing was renamed into place: none of the batch is applied.
    for (const c of changes)
      if (!results.has(c.id) || results.get(c.id)?.status === "APPLIED") results.set(c.id, failure(c.id, failed));
  }
  return changes.map((c) => results.get(c.id)!);
}

async function rewrite(
  config: CsvConfig,
  byAnchor: Map<string, Pending[]>,
  changes: ExportChange[],
  results: Map<string, ExportResult>,
): Promise<void> {
  const existing = await stat(config.path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return null;
    throw error;
  });
  const temp = join(dirname(config.path), `.${basename(config.path)}.${randomBytes(6).toString("hex")}.tmp`);
  const out = await open(temp, "wx", existing?.mode ?? 0o644);
  const writer = new BufferedWriter(out, config.encoding);
  let header: string[] = [];
  let eol = "\n";
  // Runs an anchor's changes in batch order; the row's new text, or null when it is gone.
  const apply = (anchor: string, current: Attributes | null): string | null => {
    let state = current;
    let line: string | null = null;
    for (const { change } of byAnchor.get(anchor) ?? []) {
      try {
        const next = applyChange(config, header, change, state);
        line = next ? formatRow(config, header, next) : null;
        state = next;
        results.set(change.id, { id: change.id, status: "APPLIED", anchor });
      } catch (error) {
        results.set(change.id, failure(change.id, error));
      }
    }
    byAnchor.delete(anchor);
    return state ? (line ?? formatRow(config, header, state)) : null;
  };
  try {
    if (existing) {
      for await (const event of readCsv(config, {
        onHeader: (columns, raw) => {
          header = columns;
          eol = /\r\n?$/.test(raw) ? "\r\n" : "\n";
          writer.header = withoutLineBreak(raw) + eol;
        },
      })) {
        if (event.kind === "error") {
          // Rewriting would drop a row we could not read: refuse until the file is fixed.
          throw new ConnectorError(
            "INVALID_INPUT",
            `${event.error.location}: ${event.error.message}; fix the row to export`,
            false,
          );
        }
        if (!byAnchor.has(event.anchor)) {
          await writer.write(withoutLineBreak(event.raw) + eol);
          continue;
        }
        const next = apply(event.anchor, event.attributes);
        if (next !== null) await writer.write(next + eol);
      }
    } else {
      header = newFileHeader(config, changes);
      writer.header = header.map((c) => formatCell(config, c)).join(config.delimiter) + eol;
    }
    for (const anchor of [...byAnchor.keys()]) {
      const next = apply(anchor, null);
      if (next !== null) await writer.write(next + eol);
    }
    await writer.flush();
    await out.sync();
    await out.close();
    await rename(temp, config.path);
    await syncDirectory(dirname(config.path));
  } catch (error) {
    await out.close().catch(() => {});
    await rm(temp, { force: true });
    throw error;
  }
}

/** One change on one row's attributes (null: no such row); the row after it, null when deleted. */
function applyChange(config: CsvConfig, header: string[], change: ExportChange, row: Attributes | null): Attributes | null {
  const unknown = change.attributes.find((a) => !header.includes(a.attribute));
  if (unknown)
    throw new ConnectorError("SCHEMA_VIOLATION", `no column "${unknown.attribute}" in ${basename(config.path)}`, false);
  const multi = (attribute: string) => config.multiValued.includes(attribute);
  if (change.changeType === "CREATE") {
    if (row) throw new ConnectorError("ALREADY_EXISTS", `a row with ${config.anchor} "${change.anchor}" exists`, false);
    const created = applyAttributeChanges({}, change.attributes, multi);
    created[config.anchor] = anchorOf(config, change);
    return created;
  }
  if (!row) throw new ConnectorError("NOT_FOUND", `no row with ${config.anchor} "${change.anchor}"`, false);
  if (change.changeType === "DELETE") return null;
  return applyAttributeChanges(row, change.attributes, multi);
}

/** The row key of a change; renames (a new anchor) are not supported by this connector. */
function anchorOf(config: CsvConfig, change: ExportChange): string {
  if (change.objectType !== config.objectType) {
    throw new ConnectorError("INVALID_INPUT", `this CSV holds "${config.objectType}" objects, not "${change.objectType}"`, false);
  }
  const set = change.attributes.find((a) => a.attribute === config.anchor);
  if (change.changeType === "CREATE") {
    const fromAttributes = set && set.operation !== "REMOVE" && set.operation !== "REMOVE_ALL" ? set.values : [];
    const anchor = change.anchor ?? (fromAttributes.length === 1 ? String(fromAttributes[0]) : undefined);
    if (!anchor)
      throw new ConnectorError("INVALID_INPUT", `CREATE needs one value for the anchor column "${config.anchor}"`, false);
    if (fromAttributes.length > 0 && (fromAttributes.length !== 1 || String(fromAttributes[0]) !== anchor)) {
      throw new ConnectorError("INVALID_INPUT", `the anchor "${anchor}" and the "${config.anchor}" value differ`, false);
    }
    return anchor;
  }
  if (!change.anchor) throw new ConnectorError("INVALID_INPUT", `${change.changeType} needs the anchor`, false);
  const renames = set && !(set.operation === "REPLACE" && set.values.length === 1 && String(set.values[0]) === change.anchor);
  if (change.newDn !== undefined || (change.changeType === "UPDATE" && renames)) {
    throw new ConnectorError("UNSUPPORTED", "the CSV connector cannot rename (change the anchor of) a row", false);
  }
  return change.anchor;
}

/**
 * A new file's columns: the anchor first, then the configured `columns` (what the rules write),
 * then any other attribute the batch creates, sorted.
 */
export function newFileHeader(config: CsvConfig, changes: ExportChange[]): string[] {
  const planned = (config.columns ?? []).filter((c) => c !== config.anchor);
  const created = new Set<string>();
  for (const c of changes) if (c.changeType === "CREATE") for (const a of c.attributes) created.add(a.attribute);
  created.delete(config.anchor);
  for (const c of planned) created.delete(c);
  return [config.anchor, ...planned, ...[...created].sort()];
}

function formatRow(config: CsvConfig, header: string[], row: Attributes): string {
  return header
    .map((column) => {
      const value = row[column];
      if (value === undefined || value === null) return "";
      const values = Array.isArray(value) ? value.map(String) : [String(value)];
      if (values.length > 1 && values.some((v) => v.includes(config.valueSeparator))) {
        throw new ConnectorError(
          "INVALID_INPUT",
          `a value of "${column}" contains the separator "${config.valueSeparator}"`,
          false,
        );
      }
      return formatCell(config, values.join(config.valueSeparator));
    })
    .join(config.delimiter);
}

function formatCell(config: CsvConfig, cell: string): string {
  const q = config.quote;
  const needsQuotes = cell.includes(config.delimiter) || cell.includes(q) || /[\r\n]/.test(cell) || cell.trim() !== cell;
  return needsQuotes ? q + cell.replaceAll(q, q + q) + q : cell;
}

/** A row's raw text ends with its line break, or none at the end of the file. */
function withoutLineBreak(raw: string): string {
  return raw.replace(/\r?\n?$/, "");
}

function failure(id: string, error: unknown): ExportResult {
  const e = error instanceof ConnectorError ? error : new ConnectorError("INTERNAL", String(error), false);
  return { id, status: e.transient ? "TRANSIENT_FAILURE" : "PERMANENT_FAILURE", code: e.code, message: e.message };
}

/** The rename is durable only once the directory entry is on disk too. */
async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Encodes and writes in large chunks: one syscall per ~256 KiB rather than per row. */
class BufferedWriter {
  /** Written first (the reader hands the header over before any row). */
  header = "";
  private chunks: string[] = [];
  private size = 0;
  constructor(
    private readonly file: FileHandle,
    private readonly encoding: string,
  ) {}
  async write(text: string): Promise<void> {
    this.chunks.push(text);
    this.size += text.length;
    if (this.size >= 256 * 1024) await this.flush();
  }
  async flush(): Promise<void> {
    const text = this.header + this.chunks.join("");
    this.header = "";
    this.chunks = [];
    this.size = 0;
    if (text) await this.file.write(/^utf-?8$/i.test(this.encoding) ? Buffer.from(text) : iconv.encode(text, this.encoding));
  }
}
