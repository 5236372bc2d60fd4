import { badInput } from "../errors.ts";

/**
 * Pothos hands prismaConnection resolvers Prisma's cursor pagination (`cursor` + `skip: 1`),
 * which finds nothing once the cursor's row is deleted. Keyset on id instead (`id > cursor`,
 * ordered by id): a cursor survives inserts and deletes, and each page is one index range scan.
 */
export function keysetPage<Q extends { cursor?: { id?: unknown }; skip?: number; take?: number }>(
  query: Q,
): { query: Omit<Q, "cursor" | "skip">; idFilter: { id?: { gt: string } | { lt: string } } } {
  const { cursor, skip: _skip, ...rest } = query;
  if (!cursor || typeof cursor.id !== "string") return { query: rest, idFilter: {} };
  const id = cursor.id;
  return { query: rest, idFilter: { id: (rest.take ?? 0) < 0 ? { lt: id } : { gt: id } } };
}

export interface AttributeFilterInput {
  attribute: string;
  equals?: string | null;
  startsWith?: string | null;
}

/** `where: {attribute, equals|startsWith}` as a jsonb path filter on the `attributes` column. */
export function attributeWhere(filter: AttributeFilterInput | null | undefined) {
  if (!filter) return {};
  if (!filter.attribute) throw badInput("where.attribute must not be empty", "where.attribute");
  if (filter.equals != null && filter.startsWith != null) throw badInput("where takes equals or startsWith, not both", "where");
  if (filter.equals != null) return { attributes: { path: [filter.attribute], equals: filter.equals } };
  if (filter.startsWith != null) return { attributes: { path: [filter.attribute], string_starts_with: filter.startsWith } };
  throw badInput("where needs equals or startsWith", "where");
}
