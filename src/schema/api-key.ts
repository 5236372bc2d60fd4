import { builder } from "./builder.ts";
import { ApiRoleEnum } from "./enums.ts";
import { decodeId } from "./global-id.ts";

export const ApiKeyRef = builder.prismaNode("ApiKey", {
  id: { field: "id" },
  authScopes: { admin: true },
  description: "An API key's record; the key itself is only ever returned by createApiKey.",
  fields: (t) => ({
    name: t.exposeString("name"),
    role: t.expose("role", { type: ApiRoleEnum }),
    prefix: t.exposeString("prefix", { description: "The key's first characters, to recognise it." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    revokedAt: t.expose("revokedAt", { type: "DateTime", nullable: true }),
    lastUsedAt: t.expose("lastUsedAt", { type: "DateTime", nullable: true }),
  }),
});

const CreatedApiKey = builder.objectRef<{ key: string; apiKey: { id: string } }>("CreatedApiKey").implement({
  fields: (t) => ({
    key: t.exposeString("key", { description: "Shown once: only its hash is stored." }),
    apiKey: t.prismaField({
      type: "ApiKey",
      resolve: (query, created, _args, ctx) =>
        ctx.services.db.prisma.apiKey.findUniqueOrThrow({ ...query, where: { id: created.apiKey.id } }),
    }),
  }),
});

const ApiKeyInput = builder.inputType("ApiKeyInput", {
  fields: (t) => ({
    role: t.field({ type: ApiRoleEnum, required: true, description: "What the key may do: READER < OPERATOR < ADMIN." }),
    name: t.string({ description: "A label to tell keys apart." }),
  }),
});

builder.queryField("apiKeys", (t) =>
  t.prismaField({
    type: ["ApiKey"],
    authScopes: { admin: true },
    resolve: (query, _root, _args, ctx) => ctx.services.db.prisma.apiKey.findMany({ ...query, orderBy: { createdAt: "asc" } }),
  }),
);

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: CreatedApiKey,
    authScopes: { admin: true },
    args: { input: t.arg({ type: ApiKeyInput, required: true, description: "Role and label of the new key." }) },
    resolve: async (_root, { input }, ctx) => {
      const created = await ctx.services.apiKeys.create(input);
      // Audit without the key: who created which key id with which role.
      ctx.services.logger.info(
        { by: ctx.apiKeyId ?? "loopback", apiKeyId: created.apiKey.id, role: input.role },
        "API key created",
      );
      return created;
    },
  }),
  revokeApiKey: t.prismaField({
    type: "ApiKey",
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true, description: "Global ID of the key to revoke." }) },
    resolve: async (query, _root, args, ctx) => {
      const revoked = await ctx.services.apiKeys.revoke(decodeId("ApiKey", String(args.id)));
      ctx.services.logger.info({ by: ctx.apiKeyId ?? "loopback", apiKeyId: revoked.id }, "API key revoked");
      return ctx.services.db.prisma.apiKey.findUniqueOrThrow({ ...query, where: { id: revoked.id } });
    },
  }),
}));
