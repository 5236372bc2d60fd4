import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";

/** A value for one COPY column: text as is, null as SQL NULL. */
export type CopyValue = string | null;

// COPY's text format: backslash, tab, newline and carriage return are escaped, \N is NULL.
const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

function field(value: CopyValue): string {
  if (value === null) return "\\N";
  return SPECIAL.test(value) ? value.replace(SPECIAL_ALL, (c) => ESCAPES[c]!) : value;
}

/**
 * Rows are sent in chunks of about this many characters: memory stays bounded whatever the
 * batch size, and PostgreSQL parses one chunk while the next one is serialised (a socket write
 * goes out at once), so on two cores the two overlap instead of taking turns.
 */
const CHUNK = 1 << 16;

/**
 * Bulk load `items` into `table` with COPY FROM STDIN (text format), inside the caller's
 * transaction. Each item becomes a row (`toRow`) only as it is sent, so serialising the next
 * chunk overlaps PostgreSQL loading the previous one. Measured on this machine kind: COPY
 * ~150k rows/s against ~55-60k for INSERT ... SELECT FROM unnest(...), most of the difference
 * being the server-side parsing of huge array parameters. Columns left out take their defaults.
 */
export async function copyRows<T>(
  tx: Pick<pg.PoolClient, "query">,
  table: string,
  columns: string[],
  items: Iterable<T>,
  toRow: (item: T) => CopyValue[],
) {
  const stream = tx.query(copyFrom(`COPY ${table} (${columns.join(", ")}) FROM STDIN`));
  const done = new Promise<void>((resolve, reject) => {
    stream.on("finish", resolve);
    stream.on("error", reject);
  });
  // Handled by the awaits below; a failed COPY must not leave us waiting for "drain".
  done.catch(() => {});
  let chunk = "";
  for (const item of items) {
    chunk += `${toRow(item).map(field).join("\t")}\n`;
    if (chunk.length >= CHUNK) {
      if (!stream.write(chunk)) await Promise.race([new Promise((r) => stream.once("drain", r)), done]);
      chunk = "";
    }
  }
  stream.end(chunk);
  await done;
}
