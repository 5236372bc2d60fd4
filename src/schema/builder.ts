import SchemaBuilder from "@pothos/core";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin from "@pothos/plugin-relay";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import { AppError } from "../errors.ts";
import type PrismaTypes from "../generated/pothos-prisma-types.ts";
import { getDatamodel } from "../generated/pothos-prisma-types.ts";
import type { ApiRole } from "../generated/prisma/enums.ts";
import type { Services } from "../services.ts";

export interface Context {
  services: Services;
  /** Role of the caller: an API key's role, or ADMIN for a loopback client while no key exists. */
  role: ApiRole | null;
}

const rank: Record<ApiRole, number> = { READER: 1, OPERATOR: 2, ADMIN: 3 };
const atLeast = (role: ApiRole | null, needed: ApiRole) => role !== null && rank[role] >= rank[needed];

export const builder = new SchemaBuilder<{
  PrismaTypes: PrismaTypes;
  Context: Context;
  AuthScopes: { reader: boolean; operator: boolean; admin: boolean };
  DefaultFieldNullability: false;
  Scalars: {
    JSON: { Input: unknown; Output: unknown };
    DateTime: { Input: Date; Output: Date };
  };
}>({
  plugins: [ScopeAuthPlugin, PrismaPlugin, RelayPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    unauthorizedError: (_parent, ctx) =>
      ctx.role === null
        ? new AppError("UNAUTHENTICATED", "an API key is required: send Authorization: Bearer <key>")
        : new AppError("FORBIDDEN", `the ${ctx.role.toLowerCase()} role may not do this`),
    authScopes: (ctx) => ({
      reader: atLeast(ctx.role, "READER"),
      operator: atLeast(ctx.role, "OPERATOR"),
      admin: atLeast(ctx.role, "ADMIN"),
    }),
  },
  prisma: {
    client: (ctx) => ctx.services.db.prisma,
    dmmf: getDatamodel(),
    filterConnectionTotalCount: true,
    onUnusedQuery: null,
  },
  relay: { clientMutationId: "omit", cursorType: "String" },
});
