/**
 * SQL identifiers (schema, table, column names come from the config and the catalog) are
 * quoted, never interpolated raw; values always travel as query parameters.
 */
export function quoteIdent(name: string): string {
  if (name.includes("\u0000")) throw new Error("an identifier cannot contain NUL");
  return `"${name.replaceAll('"', '""')}"`;
}

export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}
