import type { FileHandle } from "node:fs/promises";
import iconv from "iconv-lite";
import { cyrb53Halves } from "../../util/string-hash.ts";
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
 * Where each row of a CSV file is: what an export session keeps of the file between writes
 * instead of its rows' text (a 1,000,000-row file held as text took 338 MB of live heap; as a Map
 * of anchors, 98 MB). Per row, its byte range and two 32-bit hashes of its anchor, in typed arrays,
 * and an open-addressing table from the first hash to the row: ~40 bytes a row, no string kept
 * (1,000,000 rows: 41 MB live with the rest of a session, against 98 MB of heap with a Map).
 * Rows are in file order (slots). A lookup gives the rows whose anchor hashes match, in file
 * order: the caller reads them and compares the anchor itself, so a hash collision costs a read,
 * never a wrong row, and of two rows with the same anchor the first is the one changed.
 */
export class RowIndex {
  private starts = new Float64Array(1024);
  private ends = new Float64Array(1024);
  private firstHashes = new Uint32Array(1024);
  private secondHashes = new Uint32Array(1024);
  /** Slot + 1 of each row, placed by its first hash (linear probing); 0: empty. */
  private table = new Uint32Array(2048);
  private slots = 0;
  private live = 0;
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

  /** The next row, its bytes [start, end) after the leading bytes, line break included. */
  add(anchor: string, start: number, end: number): void {
    if (this.slots === this.starts.length) this.grow();
    const slot = this.slots++;
    hashAnchor(anchor);
    this.starts[slot] = start;
    this.ends[slot] = end;
    this.firstHashes[slot] = anchorHash.low;
    this.secondHashes[slot] = anchorHash.high;
    this.place(slot);
    this.live++;
  }

  /** The rows whose anchor may be `anchor` (its hashes match), in file order. */
  candidates(anchor: string): number[] {
    hashAnchor(anchor);
    const { low: first, high: second } = anchorHash;
    const found: number[] = [];
    const mask = this.table.length - 1;
    for (let i = first & mask; this.table[i] !== 0; i = (i + 1) & mask) {
      const slot = this.table[i]! - 1;
      if (this.firstHashes[slot] === first && this.secondHashes[slot] === second && this.starts[slot]! >= 0) found.push(slot);
    }
    return found.sort((a, b) => a - b);
  }

  /** Rows in the file (a row dropped by a rewrite no longer counts). */
  get count(): number {
    return this.live;
  }

  /** Slots given so far, dropped rows' included: a rewrite's `moved` holds two numbers per slot. */
  get slotCount(): number {
    return this.slots;
  }

  /** The row's bytes, counted from the file's first byte. */
  range(slot: number): { start: number; end: number } {
    return { start: this.base + this.starts[slot]!, end: this.base + this.ends[slot]! };
  }

  /** The rows in file order, their positions counted from the file's first byte. */
  *rows(): Generator<{ slot: number; start: number; end: number }> {
    for (let slot = 0; slot < this.slots; slot++) {
      const start = this.starts[slot]!;
      if (start >= 0) yield { slot, start: this.base + start, end: this.base + this.ends[slot]! };
    }
  }

  /**
   * The rows where a rewrite put them: `moved` holds each slot's new start and end (after the
   * leading bytes; -1: the row is gone), then come the rows it appended.
   */
  relocate(
    moved: Float64Array,
    appended: { anchor: string; start: number; end: number }[],
    size: number,
    endsWithBreak: boolean,
  ): void {
    for (let slot = 0; slot < this.slots; slot++) {
      const start = moved[2 * slot]!;
      if (start < 0 && this.starts[slot]! >= 0) this.live--;
      this.starts[slot] = start;
      this.ends[slot] = moved[2 * slot + 1]!;
    }
    for (const row of appended) this.add(row.anchor, row.start, row.end);
    this.size = size;
    this.endsWithBreak = endsWithBreak;
  }

  private grow(): void {
    const capacity = this.starts.length * 2;
    const larger = <T extends Float64Array | Uint32Array>(from: T, to: T) => {
      to.set(from);
      return to;
    };
    this.starts = larger(this.starts, new Float64Array(capacity));
    this.ends = larger(this.ends, new Float64Array(capacity));
    this.firstHashes = larger(this.firstHashes, new Uint32Array(capacity));
    this.secondHashes = larger(this.secondHashes, new Uint32Array(capacity));
    // At most half full: probes stay short.
    this.table = new Uint32Array(capacity * 2);
    for (let slot = 0; slot < this.slots; slot++) this.place(slot);
  }

  private place(slot: number): void {
    const mask = this.table.length - 1;
    let i = this.firstHashes[slot]! & mask;
    while (this.table[i] !== 0) i = (i + 1) & mask;
    this.table[i] = slot + 1;
  }
}

/** The two hashes of the last anchor hashed: module state, so a million anchors allocate nothing. */
const anchorHash = { low: 0, high: 0 };
const hashAnchor = (anchor: string) => cyrb53Halves(anchor, anchorHash);

/**
 * The text of the rows in `slots` (line break removed), read from the open file in file order.
 */
export async function readRowTexts(
  file: FileHandle,
  index: RowIndex,
  slots: number[],
  encoding: string,
): Promise<Map<number, string>> {
  const reader = new ForwardReader(file, 64 * 1024);
  const texts = new Map<number, string>();
  for (const slot of [...slots].sort((a, b) => a - b)) {
    const { start, end } = index.range(slot);
    texts.set(slot, decodeBytes(await reader.bytes(start, end), encoding).replace(/\r?\n?$/, ""));
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
