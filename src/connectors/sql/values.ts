import type { Attributes, AttributeValue } from "../connector.ts";
import type { Column, TableInfo } from "./table.ts";

/**
 * Row values as JSON-safe attribute values: NULL and empty arrays are absent attributes;
 * dates/timestamps arrive as PostgreSQL's text (see the pool's type parsers) and leave as ISO
 * 8601 with their microseconds; bytea is base64; int8 a number when it fits.
 */
export function rowToAttributes(row: Record<string, unknown>, table: TableInfo): Attributes {
  const attributes: Attributes = {};
  for (const [name, raw] of Object.entries(row)) {
    const column = table.columns.get(name);
    if (!column || raw === null || raw === undefined) continue;
    if (Array.isArray(raw)) {
      const values = raw.filter((v) => v !== null && v !== undefined).map((v) => toValue(v, column));
      if (values.length > 0) attributes[name] = values;
    } else {
      attributes[name] = toValue(raw, column);
    }
  }
  return attributes;
}

function toValue(raw: unknown, column: Column): AttributeValue {
  if (typeof raw === "boolean") return raw;
  if (typeof raw === "number") return raw;
  if (Buffer.isBuffer(raw)) return raw.toString("base64");
  if (raw instanceof Date) return raw.toISOString();
  if (typeof raw === "string") {
    if (column.baseType === "int8" && Number.isSafeInteger(Number(raw))) return Number(raw);
    if (column.baseType === "timestamptz" || column.baseType === "timestamp") return isoTimestamp(raw);
    return raw;
  }
  // json / jsonb documents (and anything else structured) travel as their JSON text.
  return JSON.stringify(raw);
}

/** "2024-05-01 10:00:00.123456+00" (session TimeZone UTC) -> "2024-05-01T10:00:00.123456Z". */
function isoTimestamp(text: string): string {
  return text.replace(" ", "T").replace(/\+00$/, "Z");
}

/** An attribute's values as the query parameter for its column. */
export function toParameter(values: AttributeValue[] | undefined, column: Column): unknown {
  if (!values || values.length === 0) return null;
  const converted = column.baseType === "bytea" ? values.map((v) => Buffer.from(String(v), "base64")) : values;
  return column.isArray ? converted : converted[0];
}
