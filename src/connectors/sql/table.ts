import type pg from "pg";
import type { DiscoveredAttribute, DiscoveredObjectType } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { SqlConfig } from "./config.ts";
import { qualifiedName } from "./identifiers.ts";

export interface Column {
  name: string;
  /** pg's type name; an array's element type name (udt_name without its leading "_"). */
  baseType: string;
  isArray: boolean;
  /** The column's type as a quoted, schema-qualified SQL name, for casts in bulk statements. */
  sqlType: string;
  notNull: boolean;
  type: DiscoveredAttribute["type"];
}

/** The configured table or view as the catalog describes it: only these columns are ever named in SQL. */
export interface TableInfo {
  columns: Map<string, Column>;
  anchor: Column;
  watermark: Column | null;
}

const TYPES: Record<string, DiscoveredAttribute["type"]> = {
  int2: "INTEGER",
  int4: "INTEGER",
  int8: "INTEGER",
  bool: "BOOLEAN",
  date: "DATETIME",
  timestamp: "DATETIME",
  timestamptz: "DATETIME",
  bytea: "BINARY",
  uuid: "GUID",
};

export async function loadTable(client: pg.ClientBase, config: SqlConfig): Promise<TableInfo> {
  const { rows } = await client.query<{
    column_name: string;
    udt_schema: string;
    udt_name: string;
    data_type: string;
    is_nullable: string;
  }>(
    `SELECT column_name, udt_schema, udt_name, data_type, is_nullable FROM information_schema.columns
      WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
    [config.schema, config.table],
  );
  if (rows.length === 0) {
    throw new ConnectorError(
      "NOT_FOUND",
      `no table or view ${config.schema}.${config.table} (or no column visible to this user)`,
      false,
    );
  }
  const columns = new Map<string, Column>();
  for (const r of rows) {
    const isArray = r.data_type === "ARRAY";
    const baseType = isArray ? r.udt_name.replace(/^_/, "") : r.udt_name;
    columns.set(r.column_name, {
      name: r.column_name,
      baseType,
      isArray,
      sqlType: qualifiedName(r.udt_schema, r.udt_name),
      notNull: r.is_nullable === "NO",
      type: TYPES[baseType] ?? "STRING",
    });
  }
  const find = (name: string, role: string) => {
    const column = columns.get(name);
    if (!column)
      throw new ConnectorError("SCHEMA_VIOLATION", `${role} column "${name}" is not in ${config.schema}.${config.table}`, false);
    return column;
  };
  return {
    columns,
    anchor: find(config.anchor, "anchor"),
    watermark: config.watermarkColumn ? find(config.watermarkColumn, "watermark") : null,
  };
}

export function describe(config: SqlConfig, table: TableInfo): DiscoveredObjectType {
  return {
    name: config.objectType,
    anchorAttribute: table.anchor.name,
    attributes: [...table.columns.values()].map((c) => ({
      name: c.name,
      type: c.type,
      multiValued: c.isArray,
      required: c.notNull || c === table.anchor,
    })),
  };
}
