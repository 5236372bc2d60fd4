import { basename } from "node:path";
import iconv from "iconv-lite";
import Papa from "papaparse";
import type { Attributes, RecordError } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import { openRegularFile } from "../file-roots.ts";
import type { CsvConfig } from "./config.ts";
import { fileError } from "./errors.ts";
import { utf8Position } from "./utf8.ts";

const MAX_RECORD_CHARS = 1024 * 1024;

/** One data row of the file, in file order. `index` counts data rows, header excluded, errors included. */
export type CsvEvent =
  | {
      kind: "row";
      index: number;
      line: number;
      anchor: string;
      /** The row's attributes as their canonical JSON (rowJson): what its content hash is taken of. */
      json: string;
      raw: string;
      /** Where the row's bytes start, after any byte order mark (only with CsvReadOptions.byteLength). */
      offset?: number;
      /** The row's length in bytes, line break included (only with CsvReadOptions.byteLength). */
      bytes?: number;
    }
  | { kind: "error"; index: number; line: number; error: RecordError };

export interface CsvReadOptions {
  /** Receives the header (and its text, line break included) once read, before the first event. */
  onHeader?: (columns: string[], raw: string) => void;
  /**
   * A text's length in the file's encoding: given, row events carry their byte offset and length
   * (every text the file holds counts, blank lines and the header too), so a writer can copy
   * untouched rows byte for byte instead of keeping them.
   */
  byteLength?: (text: string) => number;
  /** false: row events carry no attributes (`json` empty), for a reader that needs only anchors. */
  attributes?: boolean;
}

/** readCsvBatches one row at a time (for the export's rewrite and the header probe). */
export async function* readCsv(config: CsvConfig, options: CsvReadOptions = {}): AsyncGenerator<CsvEvent> {
  for await (const batch of readCsvBatches(config, options)) yield* batch;
}

/**
 * Streams the file in batches of rows: memory stays flat whatever the file size. The file is
 * read in chunks; PapaParse's Parser splits each chunk's complete rows (a row cut off at the
 * chunk's end waits for the next one). A batch is a chunk's rows, so rows cost no promise each.
 * Malformed rows become located `error` events and the rest of the file goes on; a quote that
 * is never closed fails the read (see `fatal`). A quote inside an unquoted field is a literal
 * character. (csv-parse, used before, took ~7 times as long: ~350 ms per 100k rows.)
 */
export async function* readCsvBatches(config: CsvConfig, options: CsvReadOptions = {}): AsyncGenerator<CsvEvent[]> {
  const file = basename(config.path);
  const decoder = textDecoder(config.encoding, file);
  const rows = new RowSplitter(config);
  let header: string[] | null = null;
  let columns: Columns | null = null;
  let index = 0;
  // The line the next row starts on, and the byte it starts at (only counted with byteLength).
  let line = 1;
  let position = 0;
  const { byteLength } = options;
  const withJson = options.attributes !== false;

  /** A chunk's rows as events, and the failure that ends the file, if one of them is fatal. */
  const eventsOf = (text: string, last: boolean) => {
    const events: CsvEvent[] = [];
    try {
      for (const { record, raw, quotes } of rows.split(text, last)) {
        const at = line;
        line += lineBreaks(raw);
        const offset = position;
        if (byteLength) position += byteLength(raw);
        // A blank line is no row (a lone empty cell).
        if (record.length === 1 && record[0] === "" && raw.trim() === "") continue;
        if (quotes === "unclosed") fatal(file, at, "a quote opened here is never closed");
        if (header === null) {
          header = validateHeader(record, config, file);
          columns = planColumns(header, config);
          options.onHeader?.(header, raw);
        } else if (quotes === "malformed") {
          events.push(rowError(file, at, index++, "a closing quote is not followed by the delimiter or a line break"));
        } else {
          const event = toEvent(record, raw, columns!, config, file, at, index++, withJson);
          if (byteLength && event.kind === "row") {
            event.offset = offset;
            event.bytes = position - offset;
          }
          events.push(event);
        }
      }
      if (rows.pendingLength > MAX_RECORD_CHARS) fatal(file, line, "a row longer than 1 MiB (unclosed quote?)");
      return { events, failure: null };
    } catch (error) {
      // The rows before a fatal one still go out first, as they would row by row.
      return { events, failure: error };
    }
  };

  try {
    const handle = await openRegularFile(config.path);
    for await (const chunk of handle.createReadStream({ highWaterMark: 256 * 1024 })) {
      const { events, failure } = eventsOf(decoder.write(chunk as Buffer), false);
      if (events.length > 0) yield events;
      if (failure) throw failure;
    }
    const { events, failure } = eventsOf(decoder.end(), true);
    if (events.length > 0) yield events;
    if (failure) throw failure;
  } catch (error) {
    throw fileError(error, config.path);
  }
  if (header === null) throw new ConnectorError("INVALID_INPUT", `${file} is empty: no header row`, false);
}

interface SplitRow {
  record: string[];
  /** The row's text, line break included. */
  raw: string;
  /** A quoted cell never closed (only at the end of the file), or closed and followed by other text. */
  quotes: "unclosed" | "malformed" | null;
}

/** What PapaParse's Parser passes its step callback: the row (alone in `data`) and where it ends. */
interface StepResult {
  data: string[][];
  errors: { code: string }[];
  meta: { cursor: number };
}

/**
 * Cuts text, given chunk by chunk, into rows with PapaParse's Parser. A row cut off at the end
 * of a chunk is kept and completed by the next one. The Parser (made once the line ending is
 * known) hands rows to the callback it was made with: `split` collects them.
 */
class RowSplitter {
  private parser: Papa.Parser | null = null;
  private pending = "";
  private collect: (result: StepResult) => void = () => {};

  constructor(private readonly config: CsvConfig) {}

  get pendingLength(): number {
    return this.pending.length;
  }

  /** The complete rows of what was pending plus `chunk`; all of it when `last`. */
  split(chunk: string, last: boolean): SplitRow[] {
    const text = this.pending + chunk;
    this.parser ??= this.newParser(text, last);
    if (!this.parser) {
      this.pending = text;
      return [];
    }
    const rows: SplitRow[] = [];
    let end = 0;
    this.collect = ({ data, errors, meta }) => {
      const raw = text.slice(end, meta.cursor);
      const quotes = errors.length === 0 ? null : errors.some((e) => e.code === "MissingQuotes") ? "unclosed" : "malformed";
      rows.push({ record: data[0]!, raw, quotes });
      end = meta.cursor;
    };
    this.parser.parse(text, 0, !last);
    this.pending = last ? "" : text.slice(end);
    return rows;
  }

  private newParser(text: string, last: boolean): Papa.Parser | null {
    const newline = lineEnding(text, last);
    if (!newline) return null;
    const { delimiter, quote } = this.config;
    return new Papa.Parser({ delimiter, quoteChar: quote, newline, step: (result) => this.collect(result as never) });
  }
}

/**
 * Why a row may have too many fields: it holds a line break that is not the file's own (a file
 * mixing CRLF and LF, or CR), so the parser read two lines as one row. Said plainly, with the
 * lines it spans, instead of leaving "found 9 fields" to puzzle over.
 */
function mixedEndings(raw: string, record: string[]): string {
  const body = raw.replace(/(\r\n|\n|\r)$/, "");
  const breaks = body.match(/\r\n|\n|\r/g)?.length ?? 0;
  // Line breaks inside quoted cells are values, not the cause.
  const unquoted = record.filter((cell) => /[\r\n]/.test(cell) && !body.includes(`"${cell}`));
  if (breaks === 0 || unquoted.length === 0) return "";
  return ` (the row runs over ${breaks + 1} lines: the file mixes line endings, e.g. CRLF and LF; use one kind throughout)`;
}

/**
 * Past an unclosed quote the rest of the file is one cell: everything after it would be
 * silently missing, and a full import would take those objects for deleted. Fail instead.
 */
function fatal(file: string, line: number, reason: string): never {
  throw new ConnectorError("INVALID_INPUT", `${file}:${line}: ${reason}; the rest of the file cannot be read`, false);
}

/**
 * The file's line ending, from its first line break: "\r\n", "\n", or "\r" in a file without
 * "\n"; null while the text read so far has none (and is not the whole file).
 */
function lineEnding(text: string, last: boolean): "\n" | "\r\n" | "\r" | null {
  const lf = text.indexOf("\n");
  if (lf !== -1) return lf > 0 && text[lf - 1] === "\r" ? "\r\n" : "\n";
  const cr = text.indexOf("\r");
  // A "\r" ending the chunk may be the start of a "\r\n".
  if (cr !== -1 && (last || cr < text.length - 1)) return "\r";
  return last ? "\n" : null;
}

/** How each row's cells become attributes: worked out once per file, from its header. */
interface Columns {
  names: string[];
  /**
   * Column indexes in the order JSON.stringify lists the keys of attributes built in sorted
   * order: array-index names ("2", "10") first, by value, then the others in sorted order. Rows
   * serialised in this order are their canonical JSON (see rowJson).
   */
  order: number[];
  /** Each column's name as a JSON object key, `"name":`, serialised once per file. */
  keys: string[];
  multiValued: boolean[];
  anchor: number;
}

/** A name JavaScript orders as an array index, before every other key of an object. */
const isArrayIndex = (name: string) => /^(0|[1-9]\d*)$/.test(name) && Number(name) < 2 ** 32 - 1;

function planColumns(header: string[], config: CsvConfig): Columns {
  const rank = (i: number) => (isArrayIndex(header[i]!) ? Number(header[i]) : Number.POSITIVE_INFINITY);
  const order = header
    .map((_, i) => i)
    .sort((a, b) => rank(a) - rank(b) || (header[a]! < header[b]! ? -1 : header[a]! > header[b]! ? 1 : 0));
  return {
    names: header,
    order,
    keys: header.map((name) => `${JSON.stringify(name)}:`),
    multiValued: header.map((name) => config.multiValued.includes(name)),
    anchor: header.indexOf(config.anchor),
  };
}

/**
 * A row's attributes as their canonical JSON, written straight from its cells: the same string
 * as JSON.stringify of the attributes object built in sorted key order (which canonicalJson
 * gives too), without building that object. An empty cell is an absent attribute (no `null`s,
 * so hashes match what the engine stores); a multi-valued cell is an array of its non-empty
 * values. Per row this is what a CSV import costs most: no object per row, one string.
 */
function rowJson(record: string[], columns: Columns, separator: string): string {
  const { order, keys, multiValued } = columns;
  let json = "{";
  for (const i of order) {
    const cell = record[i]!;
    if (cell === "") continue;
    let value: string;
    if (multiValued[i]) {
      const values = cell.split(separator).filter((v) => v !== "");
      if (values.length === 0) continue;
      value = JSON.stringify(values);
    } else value = JSON.stringify(cell);
    json += json.length === 1 ? keys[i] + value : `,${keys[i]}${value}`;
  }
  return `${json}}`;
}

function toEvent(
  record: string[],
  raw: string,
  columns: Columns,
  config: CsvConfig,
  file: string,
  line: number,
  index: number,
  withJson = true,
): CsvEvent {
  const { names } = columns;
  if (record.length !== names.length)
    return rowError(file, line, index, `expected ${names.length} fields, found ${record.length}${mixedEndings(raw, record)}`);
  // PostgreSQL text and jsonb cannot hold U+0000: stored, it would fail the whole batch. One
  // search of the row's text finds it; the cells are looked at only then.
  if (raw.includes("\u0000")) {
    const column = names[record.findIndex((cell) => cell.includes("\u0000"))];
    if (column !== undefined) return rowError(file, line, index, `column "${column}" contains a NUL character`);
  }
  // A multi-valued anchor column gives an array: no anchor. (A header without the anchor column
  // is refused before any row; a row never reads past its record.)
  const anchor = columns.multiValued[columns.anchor] ? "" : (record[columns.anchor] ?? "");
  if (anchor === "") return rowError(file, line, index, `empty anchor column "${config.anchor}"`);
  return { kind: "row", index, line, anchor, json: withJson ? rowJson(record, columns, config.valueSeparator) : "", raw };
}

/**
 * One row's text (a row event's `raw`, line break removed) read again as attributes: an export
 * session keeps rows as text and parses only the ones a change touches. Null when the text is not
 * one well-formed row of this header (the session refused such files when it read them).
 */
export function parseRow(config: CsvConfig, header: string[], raw: string, newline: string): Attributes | null {
  const { data, errors } = Papa.parse<string[]>(raw, {
    delimiter: config.delimiter,
    quoteChar: config.quote,
    newline: newline as "\n",
  });
  if (errors.length > 0 || data.length !== 1) return null;
  const event = toEvent(data[0]!, raw, planColumns(header, config), config, basename(config.path), 0, 0);
  // No prototype: a column named "__proto__" is an attribute like any other (assigned on a
  // plain object it would change the object's prototype, or drop a string value silently).
  return event.kind === "row" ? Object.assign(Object.create(null) as Attributes, JSON.parse(event.json)) : null;
}

/**
 * A row that is not imported, located `file:line`. (Not a closure in toEvent: creating and
 * naming one per row cost ~25 ms per 100k rows.)
 */
export function rowError(
  file: string,
  line: number,
  index: number,
  message: string,
  anchor?: string,
): Extract<CsvEvent, { kind: "error" }> {
  const error: RecordError = { location: `${file}:${line}`, code: "INVALID_INPUT", message };
  if (anchor !== undefined) error.anchor = anchor;
  return { kind: "error", index, line, error };
}

function validateHeader(columns: string[], config: CsvConfig, file: string): string[] {
  const seen = new Set<string>();
  for (const column of columns) {
    if (column === "") throw new ConnectorError("INVALID_INPUT", `${file}:1: empty column name in the header`, false);
    if (column.includes("\u0000"))
      throw new ConnectorError("INVALID_INPUT", `${file}:1: a column name in the header contains a NUL character`, false);
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

/**
 * Bytes to text, chunk by chunk (a character split between chunks waits for the next). UTF-8 is
 * decoded strictly: a file in another encoding fails with a clear INVALID_INPUT instead of
 * importing U+FFFD characters into identities. A byte order mark is dropped.
 */
function textDecoder(encoding: string, file: string): { write(bytes: Buffer): string; end(): string } {
  if (/^utf-?8$/i.test(encoding)) {
    const text = new TextDecoder("utf-8", { fatal: true });
    const position = utf8Position();
    const decode = (bytes: Buffer | undefined): string => {
      let decoded: string;
      try {
        decoded = bytes ? text.decode(bytes, { stream: true }) : text.decode();
      } catch {
        const { byte, line } = position.locate(bytes);
        throw new ConnectorError(
          "INVALID_INPUT",
          `${file}:${line}: not valid UTF-8 at byte ${byte} (counting from 0); fix the file or set "encoding" to its character set`,
          false,
        );
      }
      if (bytes) position.advance(bytes);
      return decoded;
    };
    return { write: decode, end: () => decode(undefined) };
  }
  if (!iconv.encodingExists(encoding)) {
    throw new ConnectorError("INVALID_INPUT", `unknown encoding "${encoding}"`, false);
  }
  const decoder = iconv.getDecoder(encoding);
  return { write: (bytes) => decoder.write(bytes), end: () => decoder.end() ?? "" };
}
