import { randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import { type FileHandle, open, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ConnectorError } from "../connector.ts";
import { encodeText, ForwardReader, type RowIndex } from "./row-index.ts";

/** The file as an export session last read or wrote it: another writer's change shows as a new version. */
export interface FileVersion {
  ino: number;
  size: number;
  mtimeMs: number;
  mode: number;
}

/** What a rewrite puts in place of the file it read. */
export interface Rewrite {
  path: string;
  encoding: string;
  eol: string;
  mode: number;
  /** The file read (its rows and the version they were read from); null when there was none. */
  source: { index: RowIndex; version: FileVersion } | null;
  /** The header of a new file (an existing file's is copied as it is). */
  headerText: string;
  /** Rows changed, by anchor: their slot in the file (-1: a new row, at the end in this order) and new text (null: deleted). */
  changed: Map<string, ChangedRow>;
}

export interface ChangedRow {
  slot: number;
  text: string | null;
}

const CHUNK = 1024 * 1024;

/** Where a rewrite put the rows (see RowIndex.relocate), and the new file's version. */
export interface Rewritten {
  moved: Float64Array;
  appended: { anchor: string; start: number; end: number }[];
  size: number;
  endsWithBreak: boolean;
  version: FileVersion;
}

/**
 * The file with the changes into a temp file beside it, fsync, rename over it, fsync the
 * directory, so a reader or a crash sees the file before or after, never half. Untouched bytes
 * (the header, blank lines, rows no change touches) are copied as they are, range by range: the
 * session never holds them. Returns where the rows of the new file are, and its version.
 */
export async function rewriteFile(rewrite: Rewrite): Promise<Rewritten> {
  const { path, source, changed } = rewrite;
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const input = source ? await open(path, "r") : null;
  let out: FileHandle | null = null;
  try {
    if (input && source && !sameVersion(versionOfStats(await input.stat()), source.version)) throw changedFile(path);
    out = await open(temp, "wx", rewrite.mode);
    const writer = new ByteWriter(out);
    const reader = input ? new ForwardReader(input, CHUNK) : null;
    const encode = (text: string) => encodeText(text + rewrite.eol, rewrite.encoding);
    const base = source?.index.base ?? 0;
    const moved = new Float64Array(2 * (source?.index.slotCount ?? 0)).fill(-1);
    const appended: Rewritten["appended"] = [];
    let endsWithBreak = true;
    if (reader && source) {
      // `shift`: where a byte of the old file lands in the new one, minus where it was.
      let cursor = 0;
      let shift = 0;
      const bySlot = new Map<number, string | null>();
      for (const { slot, text } of changed.values()) if (slot >= 0) bySlot.set(slot, text);
      for (const row of source.index.rows()) {
        const next = bySlot.get(row.slot);
        if (next === undefined) {
          moved[2 * row.slot] = row.start + shift - base;
          moved[2 * row.slot + 1] = row.end + shift - base;
          continue;
        }
        await copyRange(reader, writer, cursor, row.start);
        cursor = row.end;
        if (next !== null) {
          moved[2 * row.slot] = writer.position - base;
          await writer.write(encode(next));
          moved[2 * row.slot + 1] = writer.position - base;
        }
        shift = writer.position - cursor;
      }
      await copyRange(reader, writer, cursor, source.index.size);
      // An empty tail: the file ends after a written row or at the start of a row that was dropped.
      endsWithBreak = cursor < source.index.size ? source.index.endsWithBreak : true;
    } else await writer.write(encode(rewrite.headerText));
    for (const [anchor, { slot, text }] of changed) {
      if (text === null || slot >= 0) continue;
      if (!endsWithBreak) await writer.write(encodeText(rewrite.eol, rewrite.encoding));
      endsWithBreak = true;
      const start = writer.position - base;
      await writer.write(encode(text));
      appended.push({ anchor, start, end: writer.position - base });
    }
    await writer.flush();
    await out.sync();
    const written = await out.stat();
    await out.close();
    out = null;
    await rename(temp, path);
    await syncDirectory(dirname(path));
    return { moved, appended, size: written.size, endsWithBreak, version: versionOfStats(written) };
  } catch (error) {
    await out?.close().catch(() => {});
    if (out) await rm(temp, { force: true });
    throw error;
  } finally {
    await input?.close().catch(() => {});
  }
}

/** Bytes [from, to) of the file read, appended to the new one. */
async function copyRange(input: ForwardReader, writer: ByteWriter, from: number, to: number): Promise<void> {
  for (let at = from; at < to; at += CHUNK) await writer.write(await input.bytes(at, Math.min(to, at + CHUNK)));
}

export async function versionOf(path: string): Promise<FileVersion | null> {
  try {
    return versionOfStats(await stat(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

export function versionOfStats(s: Stats): FileVersion {
  return { ino: s.ino, size: s.size, mtimeMs: s.mtimeMs, mode: s.mode };
}

export function sameVersion(a: FileVersion | null, b: FileVersion | null): boolean {
  return a === b || (a !== null && b !== null && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs);
}

/** Another writer changed the file: nothing of the session is written over it; the exports go again. */
export function changedFile(path: string): ConnectorError {
  return new ConnectorError(
    "INVALID_INPUT",
    `${basename(path)} was changed by another writer during the export; the changes not yet written are sent again`,
    true,
  );
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

/** Writes in large chunks (one syscall per ~256 KiB rather than per row) and counts the bytes written. */
class ByteWriter {
  position = 0;
  private chunks: Buffer[] = [];
  private held = 0;
  constructor(private readonly file: FileHandle) {}
  async write(bytes: Buffer): Promise<void> {
    this.chunks.push(bytes);
    this.held += bytes.length;
    this.position += bytes.length;
    if (this.held >= 256 * 1024) await this.flush();
  }
  async flush(): Promise<void> {
    const bytes = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.held);
    this.chunks = [];
    this.held = 0;
    for (let at = 0; at < bytes.length; ) at += (await this.file.write(bytes, at, bytes.length - at)).bytesWritten;
  }
}
