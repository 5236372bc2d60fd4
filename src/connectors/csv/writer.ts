import { randomBytes } from "node:crypto";
import { type FileHandle, open, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import iconv from "iconv-lite";
import { applyAttributeChanges } from "../attribute-changes.ts";
import type { Attributes, ExportChange, ExportResult } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { CsvConfig } from "./config.ts";
import { fileError } from "./errors.ts";
import { parseRow, readCsv } from "./reader.ts";

/**
 * The file as an export session holds it between writes: the header, the line ending, and each
 * row's text (line break removed) by anchor, in file order. Rows a change touches are parsed
 * again from their text and stored formatted; untouched rows are written back byte for byte.
 */
interface FileState {
  path: string;
  header: string[];
  headerText: string;
  eol: string;
  rows: Map<string, string>;
  /** The file as last read or written here (null: none yet); another writer's change is refused. */
  version: FileVersion | null;
  /** Rows in the file when it was last read or written. */
  committedRows: number;
  /** Changes applied here since then. */
  uncommitted: number;
  mode: number;
}

interface FileVersion {
  ino: number;
  size: number;
  mtimeMs: number;
  mode: number;
}

/**
 * Export batches applied in memory and written to the file together: commit() streams every row
 * into a temp file in the same directory, fsyncs it, renames it over the original and fsyncs the
 * directory, so a reader or a crash sees the file as it was or with every batch since the last
 * commit, never half. Changes answered APPLIED are in the file only once commit() resolves; a
 * commit that throws applied none of them (the state is dropped and read again from the file).
 *
 * Why not one rewrite per batch: the rewrite copies the whole file, so an export of n rows in
 * batches of b copied ~n^2/2b rows (a 100,000-row first export: 10 million). `commitDue` says
 * when the changes since the last write reach the rows the file had then, so the rows copied
 * stay under about twice the final file (doubling), and the engine commits at least then.
 */
export class CsvExportSession {
  private state: FileState | null = null;

  /** `resolve`: the config with its path checked against the file roots, before every use. */
  constructor(private readonly resolve: () => Promise<CsvConfig>) {}

  get commitDue(): boolean {
    return this.state !== null && this.state.uncommitted > 0 && this.state.uncommitted >= this.state.committedRows;
  }

  /** Applies a batch to the session's copy of the file; one result per change. */
  async export(changes: ExportChange[]): Promise<ExportResult[]> {
    const results = new Map<string, ExportResult>();
    let config: CsvConfig | null = null;
    try {
      config = await this.resolve();
      const byAnchor = new Map<string, ExportChange[]>();
      for (const change of changes) {
        try {
          const anchor = anchorOf(config, change);
          byAnchor.set(anchor, [...(byAnchor.get(anchor) ?? []), change]);
        } catch (error) {
          results.set(change.id, failure(change.id, error));
        }
      }
      if (byAnchor.size > 0) {
        this.state ??= await readState(config, changes);
        if (this.state.path !== config.path) throw changedFile(config.path);
        for (const [anchor, batch] of byAnchor) applyToRow(config, this.state, anchor, batch, results);
      }
    } catch (error) {
      const failed = fileError(error, config?.path ?? "the CSV file");
      for (const c of changes) if (!results.has(c.id)) results.set(c.id, failure(c.id, failed));
    }
    return changes.map((c) => results.get(c.id)!);
  }

  /** Writes every change applied since the last commit; throws a ConnectorError when none is written. */
  async commit(): Promise<void> {
    const state = this.state;
    if (!state || state.uncommitted === 0) return;
    try {
      const config = await this.resolve();
      if (config.path !== state.path || !sameVersion(await versionOf(config.path), state.version)) throw changedFile(config.path);
      state.version = await writeFile(config, state);
      state.committedRows = state.rows.size;
      state.uncommitted = 0;
    } catch (error) {
      // What is in memory was not written: the next batch starts again from the file.
      this.state = null;
      throw fileError(error, state.path);
    }
  }

  /** Drops what was applied since the last commit (the file keeps the last committed state). */
  abort(): void {
    this.state = null;
  }
}

/**
 * One batch applied and written at once (a connector's plain export call): failures per change,
 * and every APPLIED change failed alike when the file could not be written.
 */
export async function exportToCsv(resolve: () => Promise<CsvConfig>, changes: ExportChange[]): Promise<ExportResult[]> {
  const session = new CsvExportSession(resolve);
  const results = await session.export(changes);
  try {
    await session.commit();
    return results;
  } catch (error) {
    return results.map((r) => (r.status === "APPLIED" ? failure(r.id, error) : r));
  }
}

/** Runs an anchor's changes of one batch in order on the row; the row's new text, or none when gone. */
function applyToRow(
  config: CsvConfig,
  state: FileState,
  anchor: string,
  changes: ExportChange[],
  results: Map<string, ExportResult>,
): void {
  const text = state.rows.get(anchor);
  let row = text === undefined ? null : parseRow(config, state.header, text, state.eol);
  if (text !== undefined && row === null) {
    // Never taken for a missing row (a CREATE would replace it): the file was checked when read.
    const error = new ConnectorError("INTERNAL", `the row of ${config.anchor} "${anchor}" could not be read again`, false);
    for (const change of changes) results.set(change.id, failure(change.id, error));
    return;
  }
  let line: string | null = null;
  let applied = 0;
  for (const change of changes) {
    try {
      const next = applyChange(config, state.header, change, row);
      line = next ? formatRow(config, state.header, next) : null;
      row = next;
      applied++;
      results.set(change.id, { id: change.id, status: "APPLIED", anchor });
    } catch (error) {
      results.set(change.id, failure(change.id, error));
    }
  }
  if (applied === 0) return;
  state.uncommitted += applied;
  if (row === null) state.rows.delete(anchor);
  // An existing anchor keeps its place in the file; a new one goes at the end.
  else state.rows.set(anchor, line ?? formatRow(config, state.header, row));
}

/**
 * The file read into a session: a file holding a malformed row is refused (writing it back
 * would drop the row). A missing file starts empty, its header from the batch (newFileHeader).
 */
async function readState(config: CsvConfig, changes: ExportChange[]): Promise<FileState> {
  const before = await versionOf(config.path);
  const mode = before?.mode ?? 0o644;
  if (!before) {
    const header = newFileHeader(config, changes);
    const headerText = header.map((c) => formatCell(config, c)).join(config.delimiter);
    return {
      path: config.path,
      header,
      headerText,
      eol: "\n",
      rows: new Map(),
      version: null,
      committedRows: 0,
      uncommitted: 0,
      mode,
    };
  }
  let header: string[] = [];
  let headerText = "";
  let eol = "\n";
  const rows = new Map<string, string>();
  for await (const event of readCsv(config, {
    onHeader: (columns, raw) => {
      header = columns;
      eol = /\r\n?$/.test(raw) ? "\r\n" : "\n";
      headerText = withoutLineBreak(raw);
    },
  })) {
    if (event.kind === "error") {
      throw new ConnectorError("INVALID_INPUT", `${event.error.location}: ${event.error.message}; fix the row to export`, false);
    }
    // A second row with the same anchor (which imports refuse) is written back as it is; changes go to the first.
    rows.set(rows.has(event.anchor) ? `\u0000${event.index}` : event.anchor, withoutLineBreak(event.raw));
  }
  if (!sameVersion(await versionOf(config.path), before)) throw changedFile(config.path);
  return { path: config.path, header, headerText, eol, rows, version: before, committedRows: rows.size, uncommitted: 0, mode };
}

/** The header and every row into a temp file beside the target, fsync, rename, fsync the directory. */
async function writeFile(config: CsvConfig, state: FileState): Promise<FileVersion> {
  const temp = join(dirname(config.path), `.${basename(config.path)}.${randomBytes(6).toString("hex")}.tmp`);
  const out = await open(temp, "wx", state.mode);
  try {
    const writer = new BufferedWriter(out, config.encoding);
    await writer.write(state.headerText + state.eol);
    for (const line of state.rows.values()) await writer.write(line + state.eol);
    await writer.flush();
    await out.sync();
    const written = await out.stat();
    await out.close();
    await rename(temp, config.path);
    await syncDirectory(dirname(config.path));
    return { ino: written.ino, size: written.size, mtimeMs: written.mtimeMs, mode: written.mode };
  } catch (error) {
    await out.close().catch(() => {});
    await rm(temp, { force: true });
    throw error;
  }
}

async function versionOf(path: string): Promise<FileVersion | null> {
  try {
    const s = await stat(path);
    return { ino: s.ino, size: s.size, mtimeMs: s.mtimeMs, mode: s.mode };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

function sameVersion(a: FileVersion | null, b: FileVersion | null): boolean {
  return a === b || (a !== null && b !== null && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs);
}

/** Another writer changed the file: nothing of the session is written over it; the exports go again. */
function changedFile(path: string): ConnectorError {
  return new ConnectorError(
    "INVALID_INPUT",
    `${basename(path)} was changed by another writer during the export; the changes not yet written are sent again`,
    true,
  );
}

/** One change on one row's attributes (null: no such row); the row after it, null when deleted. */
function applyChange(config: CsvConfig, header: string[], change: ExportChange, row: Attributes | null): Attributes | null {
  const unknown = change.attributes.find((a) => !header.includes(a.attribute));
  if (unknown)
    throw new ConnectorError("SCHEMA_VIOLATION", `no column "${unknown.attribute}" in ${basename(config.path)}`, false);
  const multi = (attribute: string) => config.multiValued.includes(attribute);
  if (change.changeType === "CREATE") {
    const created = applyAttributeChanges({}, change.attributes, multi);
    created[config.anchor] = anchorOf(config, change);
    // The very row this CREATE writes is there already: written by this export before a crash
    // kept its outcome from being recorded. Applied again, it is the same row.
    if (row && formatRow(config, header, created) !== formatRow(config, header, row))
      throw new ConnectorError("ALREADY_EXISTS", `a row with ${config.anchor} "${change.anchor}" exists`, false);
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
    const text = this.chunks.join("");
    this.chunks = [];
    this.size = 0;
    if (text) await this.file.write(/^utf-?8$/i.test(this.encoding) ? Buffer.from(text) : iconv.encode(text, this.encoding));
  }
}
