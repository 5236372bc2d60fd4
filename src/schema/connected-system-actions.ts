import { builder } from "./builder.ts";
import { decodeId } from "./global-id.ts";
import { SYSTEMS_TOPIC } from "./topics.ts";

const ConnectionTest = builder.objectRef<{ ok: boolean; message: string; code: string | null }>("ConnectionTest").implement({
  fields: (t) => ({
    ok: t.exposeBoolean("ok"),
    message: t.exposeString("message"),
    code: t.exposeString("code", { nullable: true, description: "CONNECTION_FAILED, AUTH_FAILED, TIMEOUT, ... when not ok" }),
  }),
});

builder.mutationFields((t) => ({
  testConnection: t.field({
    type: ConnectionTest,
    authScopes: { admin: true },
    description: "Connect with the current settings; a failure is a result (ok: false), not an error.",
    args: { id: t.arg.id({ required: true, description: "Global ID of the connected system." }) },
    resolve: (_root, { id }, ctx) => ctx.services.connectionActions.testConnection(decodeId("ConnectedSystem", String(id))),
  }),
  refreshSchema: t.prismaField({
    type: "ConnectedSystem",
    authScopes: { admin: true },
    description: "Discover object types and attributes; sync rules are then checked against them.",
    args: { id: t.arg.id({ required: true, description: "Global ID of the connected system." }) },
    resolve: async (query, _root, { id }, ctx) => {
      const systemId = decodeId("ConnectedSystem", String(id));
      await ctx.services.connectionActions.refreshSchema(systemId);
      await ctx.services.bus.publish(SYSTEMS_TOPIC, { change: "UPDATED", id: systemId });
      return ctx.services.db.prisma.connectedSystem.findUniqueOrThrow({ ...query, where: { id: systemId } });
    },
  }),
}));
