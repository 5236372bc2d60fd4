import { type ChangeNotificationsState, changeNotifications } from "../systems/change-notifications.ts";
import { builder } from "./builder.ts";
import { decodeId } from "./global-id.ts";
import { SYSTEMS_TOPIC } from "./topics.ts";

const ChangeNotificationsRef = builder.objectRef<ChangeNotificationsState>("ChangeNotifications").implement({
  description:
    "What installChangeNotifications creates in a SQL system's source database, so that its watcher (realtime.watch) hears changes: see README Real-time watchers.",
  fields: (t) => ({
    installed: t.exposeBoolean("installed", { description: "The system's trigger is on the table." }),
    table: t.exposeString("table"),
    logTable: t.exposeString("logTable", { description: "Anchors of changed rows, until the watcher has pushed them." }),
    function: t.exposeString("function", {
      description: "The trigger function (SECURITY DEFINER), shared by the schema's triggers.",
    }),
    trigger: t.exposeString("trigger", { description: "AFTER INSERT OR UPDATE OR DELETE, FOR EACH ROW, this system's own." }),
    channel: t.exposeString("channel", { description: "The LISTEN/NOTIFY channel; the payload is the system's id." }),
  }),
});

builder.queryFields((t) => ({
  changeNotifications: t.field({
    type: ChangeNotificationsRef,
    authScopes: { admin: true },
    description: "Whether a SQL system's change notifications are installed in its source database, and their names.",
    args: { connectedSystemId: t.arg.id({ required: true, description: "Global ID of a SQL connected system." }) },
    resolve: (_root, { connectedSystemId }, ctx) =>
      changeNotifications(
        { prisma: ctx.services.db.prisma, systems: ctx.services.systems },
        decodeId("ConnectedSystem", String(connectedSystemId)),
        "status",
      ),
  }),
}));

builder.mutationFields((t) => ({
  installChangeNotifications: t.field({
    type: ChangeNotificationsRef,
    authScopes: { admin: true },
    description:
      "Opt-in: create, in the SQL system's SOURCE database, a change log table, a trigger function and a trigger on the system's table, so that its watcher pushes each change at once. Idempotent; removeChangeNotifications undoes it.",
    args: { connectedSystemId: t.arg.id({ required: true, description: "Global ID of a SQL connected system." }) },
    resolve: async (_root, { connectedSystemId }, ctx) => {
      const id = decodeId("ConnectedSystem", String(connectedSystemId));
      const state = await changeNotifications({ prisma: ctx.services.db.prisma, systems: ctx.services.systems }, id, "install");
      await ctx.services.bus.publish(SYSTEMS_TOPIC, { change: "UPDATED", id });
      return state;
    },
  }),
  removeChangeNotifications: t.field({
    type: ChangeNotificationsRef,
    authScopes: { admin: true },
    description:
      "Drop the system's trigger and its logged changes from the source database; the function and log table too once no other system's trigger uses them.",
    args: { connectedSystemId: t.arg.id({ required: true, description: "Global ID of a SQL connected system." }) },
    resolve: async (_root, { connectedSystemId }, ctx) => {
      const id = decodeId("ConnectedSystem", String(connectedSystemId));
      const state = await changeNotifications({ prisma: ctx.services.db.prisma, systems: ctx.services.systems }, id, "remove");
      await ctx.services.bus.publish(SYSTEMS_TOPIC, { change: "UPDATED", id });
      return state;
    },
  }),
}));
