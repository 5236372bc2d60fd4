/**
 * How list commands print rows: aligned columns with a bold header on a terminal, tab-separated
 * values with a plain header line when piped (for cut/awk), and JSON with --json (for scripts;
 * the full records, not the table's short forms).
 */
export interface Column<T> {
  header: string;
  value: (row: T) => string | number | null | undefined;
  /** Right-aligned on a terminal (numbers). */
  numeric?: boolean;
}

export interface Output {
  /** stdout is a terminal: a table for people. */
  tty: boolean;
  /** The terminal's width, to cut the last column; undefined: no limit. */
  width?: number;
  write(text: string): void;
}

export const stdoutOutput = (): Output => ({
  tty: Boolean(process.stdout.isTTY),
  width: process.stdout.columns,
  write: (text) => process.stdout.write(text),
});

const cell = (v: string | number | null | undefined) => (v === null || v === undefined || v === "" ? "-" : String(v));

export function formatTable<T>(rows: T[], columns: Column<T>[], output: Pick<Output, "tty" | "width">): string {
  const cells = rows.map((r) => columns.map((c) => cell(c.value(r)).replace(/[\t\r\n]+/g, " ")));
  if (!output.tty) return `${[columns.map((c) => c.header), ...cells].map((line) => line.join("\t")).join("\n")}\n`;
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((line) => line[i]?.length ?? 0)));
  const pad = (text: string, i: number) => (columns[i]?.numeric ? text.padStart(widths[i] ?? 0) : text.padEnd(widths[i] ?? 0));
  const clip = (line: string) => {
    const trimmed = line.trimEnd();
    return output.width && trimmed.length > output.width ? `${trimmed.slice(0, output.width - 1)}…` : trimmed;
  };
  const header = `\u001b[1m${clip(columns.map((c, i) => pad(c.header, i)).join("  "))}\u001b[0m`;
  return `${[header, ...cells.map((line) => clip(line.map(pad).join("  ")))].join("\n")}\n`;
}

/** Rows as a table (or TSV), or, with --json, `json` of each row. */
export function printRows<T>(
  output: Output,
  rows: T[],
  columns: Column<T>[],
  options: { json: boolean; toJson: (row: T) => unknown; empty: string },
): void {
  if (options.json) {
    output.write(`${JSON.stringify(rows.map(options.toJson), null, 2)}\n`);
    return;
  }
  if (rows.length === 0 && output.tty) {
    output.write(`${options.empty}\n`);
    return;
  }
  output.write(formatTable(rows, columns, output));
}
