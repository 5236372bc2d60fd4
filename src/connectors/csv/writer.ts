import { open } from "node:fs/promises";
import { basename } from "node:path";
import { applyAttributeChanges } from "../attribute-changes.ts";
import type { Attributes, ExportChange, ExportResult } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { CsvConfig } from "./config.ts";
import { fileError } from "./errors.ts";
import { parseRow, readCsv } from "./reader.ts";
import {
  type ChangedRow,
  changedFile,
  type FileVersion,
  rewriteFile,
  sameVersion,
  versionOf,
  versionOfStats,
} from "./rewrite.ts";
import { byteLengthIn, leadingBytes, RowIndex, readRowTexts } from "./row-index.ts";

/**
 * The file as an export session holds it between writes: the header, the line ending, where
 * each row is (not its text: rows a change touches are read again from the file, parsed and
 * stored formatted), and the rows changed since the last write.
 */
interface FileState {
  path: string;
  header: string[];
  headerText: string;
  eol: string;
  /** Where the rows of the file as last read or written are; null: no file yet. */
  index: RowIndex | null;
  /** Rows changed since then, by anchor: their slot in the index (-1: new) and new text (null: deleted). */
  changed: Map<string, ChangedRow>;
  /** The file as last read or written here (null: none yet); another writer's change is refused. */
  version: FileVersion | null;
  /** Changes applied here since then. */
  uncommitted: number;
  /** Characters of row text held for the next write. */
  heldChars: number;
  mode: number;
}

/** Row text a session holds before it writes, whatever the file's size (~32 MB as UTF-16). */
const MAX_HELD_CHARS = 16 * 1024 * 1024;

/**
 * Export batches applied in memory and written to the file together: commit() copies the file
 * into a temp file in the same directory with the changed rows in place, fsyncs it, renames it
 * over the original and fsyncs the directory, so a reader or a crash sees the file as it was or
 * with every batch since the last commit, never half. Changes answered APPLIED are in the file
 * only once commit() resolves; a commit that throws applied none of them (the state is dropped
 * and read again from the file).
 *
 * Why not one rewrite per batch: the rewrite copies the whole file, so an export of n rows in
 * batches of b copied ~n^2/2b rows (a 100,000-row first export: 10 million). `commitDue` says
 * when the changes since the last write reach the rows the file had then, so the rows copied
 * stay under about twice the final file (doubling), or when the rows held reach MAX_HELD_CHARS,
 * so memory stays flat; the engine commits at least then.
 */
export class CsvExportSession {
  private state: FileState | null = null;

  /**
   * @param resolve the config with its path checked against the file roots, before every use
   * @param maxHeldChars row text held before a commit is due, whatever the file's size
   */
  constructor(
    private readonly resolve: () => Promise<CsvConfig>,
    private readonly maxHeldChars = MAX_HELD_CHARS,
  ) {}

  get commitDue(): boolean {
    const state = this.state;
    if (state === null || state.uncommitted === 0) return false;
    return state.uncommitted >= (state.index?.count ?? 0) || state.heldChars >= this.maxHeldChars;
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
        const state = this.state;
        if (state.path !== config.path) throw changedFile(config.path);
        const stored = await this.storedRows(config, state, byAnchor.keys());
        for (const [anchor, batch] of byAnchor) applyToRow(config, state, anchor, stored.get(anchor), batch, results);
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
      const source = state.index && state.version ? { index: state.index, version: state.version } : null;
      const written = await rewriteFile({ ...state, encoding: config.encoding, source });
      state.index ??= new RowIndex();
      state.index.relocate(written.moved, written.appended, written.size, written.endsWithBreak);
      state.version = written.version;
      state.changed = new Map();
      state.uncommitted = 0;
      state.heldChars = 0;
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

  /**
   * The rows of `anchors` in the file, not changed since the last write: read back, parsed, and
   * matched by their anchor (the index only says which rows may hold it). A file another writer
   * changed drops the session's state (the next batch reads it anew).
   */
  private async storedRows(config: CsvConfig, state: FileState, anchors: Iterable<string>): Promise<Map<string, StoredRow>> {
    const index = state.index;
    const stored = new Map<string, StoredRow>();
    if (!index) return stored;
    const candidates = new Map<string, number[]>();
    for (const anchor of anchors) {
      if (state.changed.has(anchor)) continue;
      const slots = index.candidates(anchor);
      if (slots.length) candidates.set(anchor, slots);
    }
    if (candidates.size === 0) return stored;
    const file = await open(config.path, "r");
    try {
      if (!sameVersion(versionOfStats(await file.stat()), state.version)) {
        this.state = null;
        throw changedFile(config.path);
      }
      const texts = await readRowTexts(file, index, [...candidates.values()].flat(), config.encoding);
      for (const [anchor, slots] of candidates) {
        for (const slot of slots) {
          const text = texts.get(slot)!;
          const row = parseRow(config, state.header, text, state.eol);
          if (row === null) throw unreadable(config, anchor);
          if (row[config.anchor] !== anchor) continue;
          stored.set(anchor, { slot, row });
          break;
        }
      }
      return stored;
    } finally {
      await file.close();
    }
  }
}

/** A row of the file as read back: its slot in the index and its attributes. */
interface StoredRow {
  slot: number;
  row: Attributes;
}

/** Never expected: the file was checked when read, and its version since. */
function unreadable(config: CsvConfig, anchor: string): ConnectorError {
  return new ConnectorError("INTERNAL", `the row of ${config.anchor} "${anchor}" could not be read again`, false);
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

/**
 * Runs an anchor's changes of one batch in order on its row (`stored`: the row in the file, when
 * the session has not changed it since the last write); the row's new text, or none when gone.
 */
function applyToRow(
  config: CsvConfig,
  state: FileState,
  anchor: string,
  stored: StoredRow | undefined,
  changes: ExportChange[],
  results: Map<string, ExportResult>,
): void {
  const held = state.changed.get(anchor);
  const slot = held ? held.slot : (stored?.slot ?? -1);
  let row = held ? (held.text === null ? null : parseRow(config, state.header, held.text, state.eol)) : (stored?.row ?? null);
  if (held?.text && row === null) {
    for (const change of changes) results.set(change.id, failure(change.id, unreadable(config, anchor)));
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
  // A row of the file keeps its place (or is dropped); a new one goes at the end.
  if (row === null && slot < 0) state.changed.delete(anchor);
  else {
    const text = row === null ? null : (line ?? formatRow(config, state.header, row));
    state.changed.set(anchor, { slot, text });
    state.heldChars += text?.length ?? 0;
  }
}

/**
 * The file read into a session: where its rows are, not their text. A file holding a malformed
 * row is refused (writing it back would drop the row). A missing file starts empty, its header
 * from the batch (newFileHeader).
 */
async function readState(config: CsvConfig, changes: ExportChange[]): Promise<FileState> {
  const before = await versionOf(config.path);
  const state = { path: config.path, changed: new Map(), uncommitted: 0, heldChars: 0, mode: before?.mode ?? 0o644 };
  if (!before) {
    const header = newFileHeader(config, changes);
    const headerText = header.map((c) => formatCell(config, c)).join(config.delimiter);
    return { ...state, header, headerText, eol: "\n", index: null, version: null };
  }
  let header: string[] = [];
  let headerText = "";
  let eol = "\n";
  const index = new RowIndex();
  const measure = byteLengthIn(config.encoding);
  let counted = 0;
  let last = "";
  const byteLength = (text: string) => {
    last = text;
    const bytes = measure(text);
    counted += bytes;
    return bytes;
  };
  for await (const event of readCsv(config, {
    onHeader: (columns, raw) => {
      header = columns;
      eol = /\r\n?$/.test(raw) ? "\r\n" : "\n";
      headerText = withoutLineBreak(raw);
    },
    byteLength,
    attributes: false,
  })) {
    if (event.kind === "error") {
      throw new ConnectorError("INVALID_INPUT", `${event.error.location}: ${event.error.message}; fix the row to export`, false);
    }
    // A second row with the same anchor (which imports refuse) is indexed too, and copied as it
    // is: a lookup gives the rows in file order, and changes go to the first.
    index.add(event.anchor, event.offset!, event.offset! + event.bytes!);
  }
  if (!sameVersion(await versionOf(config.path), before)) throw changedFile(config.path);
  const head = Buffer.alloc(3);
  const file = await open(config.path, "r");
  await file.read(head, 0, 3, 0).finally(() => file.close());
  const lead = leadingBytes(before.size, counted, head, basename(config.path), config.encoding);
  index.finish(before.size, lead, last === "" || /[\r\n]$/.test(last));
  return { ...state, header, headerText, eol, index, version: before };
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
