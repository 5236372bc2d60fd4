import { isUtf8 } from "node:buffer";
import { createReadStream } from "node:fs";
import { basename } from "node:path";
import { pipeline, type Readable, Transform } from "node:stream";
import { type CsvError, parse } from "csv-parse";
import iconv from "iconv-lite";
import type { Attributes, RecordError } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { CsvConfig } from "./config.ts";
import { fileError } from "./errors.ts";

const MAX_RECORD_CHARS = 1024 * 1024;

/** One data row of the file, in file order. `index` counts data rows, header excluded, errors included. */
export type CsvEvent =
  | { kind: "row"; index: number; line: number; anchor: string; attributes: Attributes; raw: string }
  | { kind: "error"; index: number; line: number; error: RecordError };

export interface CsvReadOptions {
  /** Receives the header (and its text, line break included) once read, before the first event. */
  onHeader?: (columns: string[], raw: string) => void;
}

interface ParsedRecord {
  record: string[];
  raw: string;
}

/** readCsvBatches one row at a time (for the export's rewrite and the header probe). */
export async function* readCsv(config: CsvConfig, options: CsvReadOptions = {}): AsyncGenerator<CsvEvent> {
  for await (const batch of readCsvBatches(config, options)) yield* batch;
}

/**
 * Streams the file in batches of rows (csv-parse over a decoding stream): memory stays flat
 * whatever the file size. A batch is what the parser has ready, so rows cost no promise each.
 * Malformed rows become located `error` events and the rest of the file goes on.
 * `relax_quotes`: csv-parse cannot resynchronise after a stray quote (it swallows the following
 * lines into one record), so a quote inside an unquoted field is kept as a literal character.
 */
export async function* readCsvBatches(config: CsvConfig, options: CsvReadOptions = {}): AsyncGenerator<CsvEvent[]> {
  const file = basename(config.path);
  const skipped: { line: number; error: CsvError }[] = [];
  const parser = parse({
    delimiter: config.delimiter,
    quote: config.quote,
    // Lines are counted from each record's raw text: csv-parse's per-record `info` object
    // costs more than the rest of the parsing (~200 ms per 100k rows).
    raw: true,
    bom: true,
    relax_quotes: true,
    relax_column_count: true,
    skip_records_with_error: true,
    skip_empty_lines: true,
    // Bounds memory when a quote is never closed (the parser would buffer the rest of the file).
    max_record_size: MAX_RECORD_CHARS,
    on_skip: (error) => {
      if (error) skipped.push({ line: typeof error.lines === "number" ? error.lines : 0, error });
    },
  });
  const source = createReadStream(config.path, { highWaterMark: 256 * 1024 });
  let streamError: unknown = null;
  pipeline(source, decoder(config.encoding, file), parser, (error) => {
    if (error) streamError = error;
  });

  let header: string[] | null = null;
  let columns: Columns | null = null;
  let index = 0;
  // Line breaks read so far: the line the last record ends on.
  let lastEndLine = 0;
  // csv-parse reports skipped records through a callback that runs ahead of the records we
  // consume: hand each one out in line order, before the first row that comes after it.
  const pendingErrors = (beforeLine: number, out: CsvEvent[]) => {
    while (skipped.length > 0 && (skipped[0]?.line ?? 0) < beforeLine) {
      const { line, error } = skipped.shift()!;
      if (error.code === "CSV_QUOTE_NOT_CLOSED" || error.code === "CSV_MAX_RECORD_SIZE") {
        // Past an unclosed quote the parser cannot find rows again: everything after it would be
        // silently missing, and a full import would take those objects for deleted. Fail instead.
        const reason =
          error.code === "CSV_QUOTE_NOT_CLOSED"
            ? "a quote opened here is never closed"
            : "a row longer than 1 MiB (unclosed quote?)";
        throw new ConnectorError(
          "INVALID_INPUT",
          `${file}:${lastEndLine + 1}: ${reason}; the rest of the file cannot be read`,
          false,
        );
      }
      const message = error.message;
      out.push({ kind: "error", index: index++, line, error: { location: `${file}:${line}`, code: "INVALID_INPUT", message } });
    }
  };
  try {
    for await (const records of drain<ParsedRecord>(parser)) {
      const batch: CsvEvent[] = [];
      try {
        for (const { record, raw } of records) {
          const line = lastEndLine + 1 + leadingLineBreaks(raw);
          if (header === null) {
            header = validateHeader(record, config, file);
            columns = planColumns(header, config);
            options.onHeader?.(header, raw);
            lastEndLine += lineBreaks(raw);
            continue;
          }
          if (skipped.length > 0) pendingErrors(line, batch);
          lastEndLine += lineBreaks(raw);
          batch.push(toEvent(record, raw, columns!, config, file, line, index++));
        }
      } catch (error) {
        // The rows before a fatal one still go out first, as they would row by row.
        if (batch.length > 0) yield batch;
        throw error;
      }
      if (batch.length > 0) yield batch;
    }
  } catch (error) {
    throw fileError(streamError ?? error, config.path);
  } finally {
    parser.destroy();
  }
  if (streamError) throw fileError(streamError, config.path);
  const rest: CsvEvent[] = [];
  try {
    pendingErrors(Number.POSITIVE_INFINITY, rest);
  } finally {
    if (rest.length > 0) yield rest;
  }
  if (header === null) throw new ConnectorError("INVALID_INPUT", `${file} is empty: no header row`, false);
}

/**
 * What a readable stream has buffered, as one array per wait: `read()` until it is empty, then
 * wait for more. Ends with the stream; rejects with its error.
 */
async function* drain<T>(stream: Readable): AsyncGenerator<T[]> {
  for (;;) {
    const items: T[] = [];
    for (let item = stream.read(); item !== null; item = stream.read()) items.push(item);
    if (items.length > 0) yield items;
    else if (stream.readableEnded) return;
    else if (stream.errored) throw stream.errored;
    else if (stream.destroyed) throw new Error("the stream closed before its end");
    else await waitForData(stream);
  }
}

function waitForData(stream: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      stream.off("readable", ready).off("end", ready).off("close", ready).off("error", done);
      if (error) reject(error);
      else resolve();
    };
    const ready = () => done();
    stream.on("readable", ready).on("end", ready).on("close", ready).on("error", done);
  });
}

/** How each row's cells become attributes: worked out once per file, from its header. */
interface Columns {
  names: string[];
  /**
   * Column indexes in the order of their sorted names: attributes built in that order serialise
   * as canonicalJson would (contentHashOfJson).
   */
  sorted: number[];
  multiValued: boolean[];
}

function planColumns(header: string[], config: CsvConfig): Columns {
  const sorted = header.map((_, i) => i).sort((a, b) => (header[a]! < header[b]! ? -1 : 1));
  return { names: header, sorted, multiValued: header.map((name) => config.multiValued.includes(name)) };
}

function toEvent(
  record: string[],
  raw: string,
  columns: Columns,
  config: CsvConfig,
  file: string,
  line: number,
  index: number,
): CsvEvent {
  const { names, sorted, multiValued } = columns;
  if (record.length !== names.length)
    return rowError(file, line, index, `expected ${names.length} fields, found ${record.length}`);
  const attributes: Attributes = {};
  for (const i of sorted) {
    const cell = record[i]!;
    // An empty cell is an absent attribute: no `null`s, so hashes match what the engine stores.
    if (cell === "") continue;
    if (multiValued[i]) {
      const values = cell.split(config.valueSeparator).filter((v) => v !== "");
      if (values.length > 0) attributes[names[i]!] = values;
    } else {
      attributes[names[i]!] = cell;
    }
  }
  const anchor = attributes[config.anchor];
  if (typeof anchor !== "string") return rowError(file, line, index, `empty anchor column "${config.anchor}"`);
  return { kind: "row", index, line, anchor, attributes, raw };
}

// Not a closure in toEvent: creating (and naming) one per row cost ~25 ms per 100k rows.
function rowError(file: string, line: number, index: number, message: string): CsvEvent {
  return { kind: "error", index, line, error: { location: `${file}:${line}`, code: "INVALID_INPUT", message } };
}

function validateHeader(columns: string[], config: CsvConfig, file: string): string[] {
  const seen = new Set<string>();
  for (const column of columns) {
    if (column === "") throw new ConnectorError("INVALID_INPUT", `${file}:1: empty column name in the header`, false);
    if (seen.has(column)) throw new ConnectorError("INVALID_INPUT", `${file}:1: duplicate column "${column}"`, false);
    seen.add(column);
  }
  if (!seen.has(config.anchor)) {
    throw new ConnectorError("SCHEMA_VIOLATION", `${file}:1: no anchor column "${config.anchor}" in the header`, false);
  }
  return columns;
}

/** Line breaks in a record's raw text (the record's own, and those of blank lines before it). */
function lineBreaks(raw: string): number {
  let breaks = 0;
  for (let i = raw.indexOf("\n"); i !== -1; i = raw.indexOf("\n", i + 1)) breaks++;
  return breaks;
}

/** Blank lines csv-parse skipped before a record come first in its raw text. */
function leadingLineBreaks(raw: string): number {
  let breaks = 0;
  for (let i = 0; i < raw.length && (raw[i] === "\n" || raw[i] === "\r"); i++) if (raw[i] === "\n") breaks++;
  return breaks;
}

/**
 * What csv-parse reads. UTF-8 files go through as bytes, checked strictly on the way: a file in
 * another encoding fails with a clear INVALID_INPUT instead of importing U+FFFD characters into
 * identities. (csv-parse works on bytes: text handed to it is encoded back, which cost ~40 ms
 * per 100k rows.) Other encodings are decoded to text.
 */
function decoder(encoding: string, file: string): Transform {
  if (/^utf-?8$/i.test(encoding)) return utf8Checker(file);
  if (!iconv.encodingExists(encoding)) {
    throw new ConnectorError("INVALID_INPUT", `unknown encoding "${encoding}"`, false);
  }
  return iconv.decodeStream(encoding) as Transform;
}

/** Passes bytes through once they are known to be valid UTF-8 (a character split across chunks waits for the next). */
function utf8Checker(file: string): Transform {
  let carry: Buffer | null = null;
  let offset = 0;
  const invalid = () =>
    new ConnectorError("INVALID_INPUT", `${file} is not valid UTF-8 (after byte ${offset}); set "encoding"`, false);
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const bytes = carry ? Buffer.concat([carry, chunk]) : chunk;
      const end = completeCharacters(bytes);
      const head = bytes.subarray(0, end);
      if (!isUtf8(head)) return done(invalid());
      carry = end < bytes.length ? Buffer.from(bytes.subarray(end)) : null;
      offset += end;
      done(null, head);
    },
    flush(done) {
      done(carry ? invalid() : null);
    },
  });
}

/** Length of `bytes` without a UTF-8 sequence cut off at its end. */
function completeCharacters(bytes: Buffer): number {
  // A sequence is at most 4 bytes: look back for the last lead byte (not 10xxxxxx).
  for (let i = bytes.length - 1; i >= Math.max(0, bytes.length - 4); i--) {
    const byte = bytes[i]!;
    if ((byte & 0xc0) === 0x80) continue;
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return i + length > bytes.length ? i : bytes.length;
  }
  return bytes.length;
}
