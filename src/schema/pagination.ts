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
