import { createReadStream } from "node:fs";
import { basename } from "node:path";
import { pipeline, Transform } from "node:stream";
import { type CsvError, type InfoRecord, parse } from "csv-parse";
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
  info: InfoRecord;
  raw: string;
}

/**
 * Streams the file row by row (csv-parse over a decoding stream): memory stays flat whatever
 * the file size. Malformed rows become located `error` events and the rest of the file goes on.
 * `relax_quotes`: csv-parse cannot resynchronise after a stray quote (it swallows the following
 * lines into one record), so a quote inside an unquoted field is kept as a literal character.
 */
export async function* readCsv(config: CsvConfig, options: CsvReadOptions = {}): AsyncGenerator<CsvEvent> {
  const file = basename(config.path);
  const skipped: { line: number; error: CsvError }[] = [];
  const parser = parse({
    delimiter: config.delimiter,
    quote: config.quote,
    info: true,
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
  let index = 0;
  let lastEndLine = 0;
  // csv-parse reports skipped records through a callback that runs ahead of the records we
  // consume: hand each one out in line order, before the first row that comes after it.
  const pendingErrors = function* (beforeLine: number): Generator<CsvEvent> {
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
      yield { kind: "error", index: index++, line, error: { location: `${file}:${line}`, code: "INVALID_INPUT", message } };
    }
  };
  try {
    for await (const chunk of parser as AsyncIterable<ParsedRecord>) {
      const { record, info, raw } = chunk;
      const line = startLine(info.lines, raw);
      if (header === null) {
        header = validateHeader(record, config, file);
        options.onHeader?.(header, raw);
        lastEndLine = info.lines;
        continue;
      }
      yield* pendingErrors(line);
      lastEndLine = info.lines;
      yield toEvent(record, raw, header, config, file, line, index++);
    }
  } catch (error) {
    throw fileError(streamError ?? error, config.path);
  }
  if (streamError) throw fileError(streamError, config.path);
  yield* pendingErrors(Number.POSITIVE_INFINITY);
  if (header === null) throw new ConnectorError("INVALID_INPUT", `${file} is empty: no header row`, false);
}

function toEvent(
  record: string[],
  raw: string,
  header: string[],
  config: CsvConfig,
  file: string,
  line: number,
  index: number,
): CsvEvent {
  // Built only for an error: this runs for every row of the file.
  const located = (message: string): CsvEvent => ({
    kind: "error",
    index,
    line,
    error: { location: `${file}:${line}`, code: "INVALID_INPUT", message },
  });
  if (record.length !== header.length) return located(`expected ${header.length} fields, found ${record.length}`);
  const attributes: Attributes = {};
  for (let i = 0; i < header.length; i++) {
    const column = header[i]!;
    const cell = record[i]!;
    // An empty cell is an absent attribute: no `null`s, so hashes match what the engine stores.
    if (cell === "") continue;
    if (config.multiValued.length > 0 && config.multiValued.includes(column)) {
      const values = cell.split(config.valueSeparator).filter((v) => v !== "");
      if (values.length > 0) attributes[column] = values;
    } else {
      attributes[column] = cell;
    }
  }
  const anchor = attributes[config.anchor];
  if (typeof anchor !== "string") return located(`empty anchor column "${config.anchor}"`);
  return { kind: "row", index, line, anchor, attributes, raw };
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

/** info.lines is the line a record ends on; a quoted field may span several lines. */
function startLine(endLine: number, raw: string): number {
  // Line breaks inside the record, its own trailing one left out (no copy of the row).
  let breaks = 0;
  for (let i = raw.indexOf("\n"); i !== -1 && i < raw.length - 1; i = raw.indexOf("\n", i + 1)) breaks++;
  return endLine - breaks;
}

/**
 * Bytes to text. UTF-8 is decoded strictly: a file in another encoding fails with a clear
 * INVALID_INPUT instead of importing U+FFFD characters into identities.
 */
function decoder(encoding: string, file: string): Transform {
  if (/^utf-?8$/i.test(encoding)) {
    const text = new TextDecoder("utf-8", { fatal: true });
    let offset = 0;
    const decode = (chunk: Buffer | undefined, stream: boolean): string => {
      try {
        return chunk ? text.decode(chunk, { stream }) : text.decode();
      } catch {
        throw new ConnectorError("INVALID_INPUT", `${file} is not valid UTF-8 (after byte ${offset}); set "encoding"`, false);
      } finally {
        offset += chunk?.length ?? 0;
      }
    };
    return new Transform({
      transform(chunk: Buffer, _enc, done) {
        try {
          done(null, decode(chunk, true));
        } catch (error) {
          done(error as Error);
        }
      },
      flush(done) {
        try {
          done(null, decode(undefined, false));
        } catch (error) {
          done(error as Error);
        }
      },
    });
  }
  if (!iconv.encodingExists(encoding)) {
    throw new ConnectorError("INVALID_INPUT", `unknown encoding "${encoding}"`, false);
  }
  return iconv.decodeStream(encoding) as Transform;
}
