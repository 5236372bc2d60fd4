import { builder } from "./builder.ts";

const Health = builder.objectRef<{ status: string; database: boolean; uptimeSeconds: number }>("Health").implement({
  fields: (t) => ({
    status: t.exposeString("status"),
    database: t.exposeBoolean("database"),
    uptimeSeconds: t.exposeFloat("uptimeSeconds"),
  }),
});

builder.queryField("health", (t) =>
  t.field({
    type: Health,
    authScopes: { reader: true },
    resolve: async (_root, _args, ctx) => {
      const database = await ctx.services.db.pool.query("SELECT 1").then(
        () => true,
        () => false,
      );
      return { status: database ? "ok" : "degraded", database, uptimeSeconds: process.uptime() };
    },
  }),
);
