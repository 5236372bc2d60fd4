import { builder } from "./builder.ts";
import { ConnectedSystemRef } from "./connected-system.ts";
import { SYSTEMS_TOPIC } from "./topics.ts";

interface SystemEvent {
  change: "CREATED" | "UPDATED" | "DELETED";
  id: string;
}

const SystemEventRef = builder.objectRef<SystemEvent>("ConnectedSystemEvent").implement({
  fields: (t) => ({
    change: t.exposeString("change"),
    connectedSystemId: t.exposeID("id"),
    connectedSystem: t.field({
      type: ConnectedSystemRef,
      nullable: true,
      resolve: (event, _args, ctx) => ctx.services.db.prisma.connectedSystem.findUnique({ where: { id: event.id } }),
    }),
  }),
});

builder.subscriptionField("connectedSystemChanged", (t) =>
  t.field({
    type: SystemEventRef,
    authScopes: { reader: true },
    description: "Every create, update and delete of a connected system, from any API process.",
    subscribe: (_root, _args, ctx) => ctx.services.bus.subscribe(SYSTEMS_TOPIC) as AsyncIterable<SystemEvent>,
    resolve: (event) => event,
  }),
);
