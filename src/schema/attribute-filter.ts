import type pg from "pg";
import { badInput } from "../errors.ts";
import { builder } from "./builder.ts";

export const AttributeFilter = builder.inputType("AttributeFilter", {
  description:
    "Match objects on one attribute of their JSON document; a multi-valued attribute (e.g. an LDAP uid, stored as an array) matches when any of its values does.",
  fields: (t) => ({
    attribute: t.string({ required: true, description: "Attribute name, as stored (case-sensitive)." }),
    equals: t.string({ description: "Matches when the attribute (or one of its values) equals this." }),
    startsWith: t.string({ description: "Matches when the attribute (or one of its values) starts with this." }),
  }),
});

export interface AttributeFilterInput {
  attribute: string;
  equals?: string | null;
  startsWith?: string | null;
}

/** The tables an attribute filter reads, with the columns their lists are narrowed by. */
type FilteredTable = "connector_space_object" | "metaverse_object";

/** Equality conditions on plain columns besides the attribute filter (column names from code, never from input). */
export type ColumnConditions = [column: string, value: string][];

/**
 * The filter as SQL over the `attributes` jsonb. Prisma's JSON filters compare the value at a
 * path as a whole, so an LDAP attribute (always an array) never equalled a string. Here:
 * `@>` with a string is true for that string and for an array holding it; a prefix is looked for
 * in every element (a single value counts as one element).
 */
function matchSql(filter: AttributeFilterInput, params: unknown[]): string {
  if (!filter.attribute) throw badInput("where.attribute must not be empty", "where.attribute");
  if (filter.equals != null && filter.startsWith != null) throw badInput("where takes equals or startsWith, not both", "where");
  params.push(filter.attribute);
  const value = `attributes -> $${params.length}`;
  if (filter.equals != null) {
    params.push(filter.equals);
    return `${value} @> to_jsonb($${params.length}::text)`;
  }
  if (filter.startsWith != null) {
    params.push(filter.startsWith);
    return `EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(${value}) = 'array' THEN ${value}
      ELSE jsonb_build_array(${value}) END) AS v WHERE jsonb_typeof(v) = 'string' AND starts_with(v #>> '{}', $${params.length}))`;
  }
  throw badInput("where needs equals or startsWith", "where");
}

function whereSql(conditions: ColumnConditions, filter: AttributeFilterInput, params: unknown[]): string {
  const parts = conditions.map(([column, value]) => {
    params.push(value);
    return `${column} = $${params.length}`;
  });
  parts.push(matchSql(filter, params));
  return parts.join(" AND ");
}

/** How many objects of `table` match. */
export async function countMatching(
  pool: pg.Pool,
  table: FilteredTable,
  conditions: ColumnConditions,
  filter: AttributeFilterInput,
): Promise<number> {
  const params: unknown[] = [];
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table} WHERE ${whereSql(conditions, filter, params)}`,
    params,
  );
  return rows[0]?.n ?? 0;
}

/**
 * The ids of one keyset page of matching objects (see pagination.ts): `take` rows after the
 * cursor (before it when negative), returned in ascending id order as Prisma returns such a page.
 */
export async function pageOfMatching(
  pool: pg.Pool,
  table: FilteredTable,
  conditions: ColumnConditions,
  filter: AttributeFilterInput,
  page: { take?: number; idFilter: { id?: { gt: string } | { lt: string } } },
): Promise<string[]> {
  const params: unknown[] = [];
  const parts = [whereSql(conditions, filter, params)];
  const cursor = page.idFilter.id;
  if (cursor) {
    const [op, id] = "gt" in cursor ? [">", cursor.gt] : ["<", cursor.lt];
    params.push(id);
    parts.push(`id ${op} $${params.length}::uuid`);
  }
  const backwards = (page.take ?? 0) < 0;
  params.push(Math.abs(page.take ?? 100));
  const { rows } = await pool.query<{ id: string }>(
    `SELECT id FROM ${table} WHERE ${parts.join(" AND ")} ORDER BY id ${backwards ? "DESC" : "ASC"} LIMIT $${params.length}`,
    params,
  );
  const ids = rows.map((r) => r.id);
  return backwards ? ids.reverse() : ids;
}
