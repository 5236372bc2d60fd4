import type { FileHandle } from "node:fs/promises";
import iconv from "iconv-lite";
import { ConnectorError } from "../connector.ts";

const isUtf8 = (encoding: string) => /^utf-?8$/i.test(encoding);

/** A text's bytes in the file's encoding (no byte order mark). */
export function encodeText(text: string, encoding: string): Buffer {
  return isUtf8(encoding) ? Buffer.from(text, "utf8") : iconv.encode(text, encoding, { addBOM: false });
}

/** A text's length in bytes in the file's encoding, without building the bytes where it can. */
export function byteLengthIn(encoding: string): (text: string) => number {
  return isUtf8(encoding) ? (text) => Buffer.byteLength(text, "utf8") : (text) => encodeText(text, encoding).length;
}

/** Bytes of the file read back as text (the file was decoded strictly once already). */
export function decodeBytes(bytes: Buffer, encoding: string): string {
  return isUtf8(encoding) ? bytes.toString("utf8") : iconv.decode(bytes, encoding, { stripBOM: false });
}

/**
 * Where each row of a CSV file is, by anchor: what an export session keeps of the file between
 * writes instead of its rows' text (a 1,000,000-row file held as text took ~900 MB; this index,
 * the anchors and two numbers per row). Rows are in file order. A second row with an anchor
 * already indexed is not indexed: it is copied with the bytes around it, as it is.
 */
export class RowIndex {
  private readonly slots = new Map<string, number>();
  private readonly anchors: string[] = [];
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  /** Bytes before the first text (a byte order mark): the offsets added are counted after it. */
  base = 0;
  /** The file's size in bytes. */
  size = 0;
  /** Whether the file's last byte ends a line (a row appended after it needs none first). */
  endsWithBreak = true;

  /** Set once every row is added: the file's size, its leading bytes, and how it ends. */
  finish(size: number, base: number, endsWithBreak: boolean): this {
    this.size = size;
    this.base = base;
    this.endsWithBreak = endsWithBreak;
    return this;
  }

  /** The row's bytes [start, end) after the leading bytes, line break included; false when the anchor has a row already. */
  add(anchor: string, start: number, end: number): boolean {
    if (this.slots.has(anchor)) return false;
    this.slots.set(anchor, this.anchors.length);
    this.anchors.push(anchor);
    this.starts.push(start);
    this.ends.push(end);
    return true;
  }

  has(anchor: string): boolean {
    return this.slots.has(anchor);
  }

  /** Rows indexed (a row dropped by a rewrite no longer counts). */
  get count(): number {
    return this.slots.size;
  }

  /** Slots given so far, dropped rows' included: a rewrite's `moved` holds two numbers per slot. */
  get slotCount(): number {
    return this.anchors.length;
  }

  range(anchor: string): { start: number; end: number } | undefined {
    const slot = this.slots.get(anchor);
    return slot === undefined ? undefined : { start: this.base + this.starts[slot]!, end: this.base + this.ends[slot]! };
  }

  /** The rows in file order, their positions counted from the file's first byte. */
  *rows(): Generator<{ slot: number; anchor: string; start: number; end: number }> {
    for (let slot = 0; slot < this.anchors.length; slot++) {
      const start = this.starts[slot]!;
      if (start >= 0) yield { slot, anchor: this.anchors[slot]!, start: this.base + start, end: this.base + this.ends[slot]! };
    }
  }

  /**
   * The rows where a rewrite put them: `moved` holds each slot's new start and end (after the
   * leading bytes; -1: the row is gone), then come the rows it appended. The anchors stay where
   * they are in memory: a commit of a 1,000,000-row file rebuilt no map.
   */
  relocate(
    moved: Float64Array,
    appended: { anchor: string; start: number; end: number }[],
    size: number,
    endsWithBreak: boolean,
  ): void {
    for (let slot = 0; slot < this.anchors.length; slot++) {
      const start = moved[2 * slot]!;
      if (start < 0 && this.starts[slot]! >= 0) this.slots.delete(this.anchors[slot]!);
      this.starts[slot] = start;
      this.ends[slot] = moved[2 * slot + 1]!;
    }
    for (const row of appended) this.add(row.anchor, row.start, row.end);
    this.size = size;
    this.endsWithBreak = endsWithBreak;
  }
}

/**
 * The text of the indexed rows of `anchors` (line break removed), read from the open file in
 * file order; an anchor without a row is left out.
 */
export async function readRowTexts(
  file: FileHandle,
  index: RowIndex,
  anchors: Iterable<string>,
  encoding: string,
): Promise<Map<string, string>> {
  const wanted = [...anchors]
    .map((anchor) => ({ anchor, range: index.range(anchor) }))
    .filter((w): w is { anchor: string; range: { start: number; end: number } } => w.range !== undefined)
    .sort((a, b) => a.range.start - b.range.start);
  const reader = new ForwardReader(file, 64 * 1024);
  const texts = new Map<string, string>();
  for (const { anchor, range } of wanted) {
    texts.set(anchor, decodeBytes(await reader.bytes(range.start, range.end), encoding).replace(/\r?\n?$/, ""));
  }
  return texts;
}

/**
 * Reads a file's bytes at rising positions through one window of at least `window` bytes: the
 * rows of a batch, or the ranges of a rewrite, cost one read per window rather than one each.
 */
export class ForwardReader {
  private buffer = Buffer.alloc(0);
  private from = 0;

  constructor(
    private readonly file: FileHandle,
    private readonly window: number,
  ) {}

  /** Bytes [start, end), valid until the next call. */
  async bytes(start: number, end: number): Promise<Buffer> {
    if (start < this.from || end > this.from + this.buffer.length) {
      const bytes = Buffer.allocUnsafe(Math.max(this.window, end - start));
      const { bytesRead } = await this.file.read(bytes, 0, bytes.length, start);
      if (bytesRead < end - start) throw new ConnectorError("INVALID_INPUT", "the file is shorter than when it was read", true);
      this.buffer = bytes.subarray(0, bytesRead);
      this.from = start;
    }
    return this.buffer.subarray(start - this.from, end - this.from);
  }
}

/**
 * The bytes before the first text: the byte order mark the decoder dropped. Anything else means
 * the rows' byte positions were not counted right, and copying by them would corrupt the file.
 */
export function leadingBytes(size: number, counted: number, head: Buffer, file: string, encoding: string): number {
  const lead = size - counted;
  const bom =
    (lead === 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) ||
    (lead === 2 && ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)));
  if (lead === 0 || bom) return lead;
  throw new ConnectorError(
    "UNSUPPORTED",
    `${file}: its rows in ${encoding} do not add up to the file's ${size} bytes, so it cannot be rewritten row by row`,
    false,
  );
}
