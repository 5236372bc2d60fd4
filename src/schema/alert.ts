import { Repeater } from "@repeaterjs/repeater";
import { ALERTS_TOPIC } from "../alerts/events.ts";
import type { AlertRaisedPayload } from "../alerts/raise.ts";
import type { Alert } from "../generated/prisma/client.ts";
import { AlertDeliveryStatus, AlertEvent } from "../generated/prisma/enums.ts";
import type { Services } from "../services.ts";
import { builder } from "./builder.ts";
import { decodeId } from "./global-id.ts";

export const AlertEventEnum = builder.enumType(AlertEvent, {
  name: "AlertEvent",
  description: "What an alert is about. INBOX_AGE is reserved for the real-time inbox and not raised yet.",
});
const AlertDeliveryStatusEnum = builder.enumType(AlertDeliveryStatus, { name: "AlertDeliveryStatus" });

// The URL may itself be a credential (chat webhooks carry their token in it): admins only.
builder.prismaNode("AlertEndpoint", {
  id: { field: "id" },
  authScopes: { admin: true },
  description: "An outgoing webhook for alerts. Its secret is write-only: it signs deliveries and is never returned.",
  fields: (t) => ({
    name: t.exposeString("name"),
    url: t.exposeString("url"),
    events: t.field({ type: [AlertEventEnum], resolve: (e) => e.events }),
    enabled: t.exposeBoolean("enabled"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

const summaryOf = (alert: Alert) => String((alert.payload as { summary?: unknown } | null)?.summary ?? alert.event);

const AlertRef = builder.prismaNode("Alert", {
  id: { field: "id" },
  description: "One alert raised: the same document every subscribed endpoint is sent.",
  fields: (t) => ({
    event: t.expose("event", { type: AlertEventEnum }),
    summary: t.string({ description: "One line for humans.", resolve: summaryOf }),
    payload: t.expose("payload", { type: "JSON", description: "The JSON body endpoints receive (signed)." }),
    runId: t.exposeID("runId", { nullable: true }),
    run: t.prismaField({
      type: "Run",
      nullable: true,
      resolve: (query, a, _args, ctx) =>
        a.runId ? ctx.services.db.prisma.run.findUnique({ ...query, where: { id: a.runId } }) : null,
    }),
    connectedSystemId: t.exposeID("connectedSystemId", { nullable: true }),
    connectedSystem: t.prismaField({
      type: "ConnectedSystem",
      nullable: true,
      resolve: (query, a, _args, ctx) =>
        a.connectedSystemId
          ? ctx.services.db.prisma.connectedSystem.findUnique({ ...query, where: { id: a.connectedSystemId } })
          : null,
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    deliveries: t.relation("deliveries", { query: { orderBy: { createdAt: "asc" } } }),
  }),
});

builder.prismaNode("AlertDelivery", {
  id: { field: "id" },
  description: "One alert to one endpoint: the delivery log entry, with every HTTP attempt.",
  fields: (t) => ({
    alert: t.relation("alert"),
    event: t.field({
      type: AlertEventEnum,
      select: { alert: { select: { event: true } } },
      resolve: (d) => d.alert.event,
    }),
    runId: t.field({
      type: "ID",
      nullable: true,
      select: { alert: { select: { runId: true } } },
      resolve: (d) => d.alert.runId,
    }),
    endpoint: t.relation("endpoint", { nullable: true, authScopes: { admin: true }, description: "Null once deleted." }),
    endpointName: t.exposeString("endpointName", { description: "The endpoint's name when the alert was raised." }),
    status: t.expose("status", { type: AlertDeliveryStatusEnum }),
    attemptCount: t.exposeInt("attemptCount"),
    lastStatusCode: t.exposeInt("lastStatusCode", { nullable: true }),
    lastError: t.exposeString("lastError", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
    attempts: t.relation("attempts", { query: { orderBy: { attempt: "asc" } } }),
  }),
});

builder.prismaObject("AlertDeliveryAttempt", {
  description: "One HTTP attempt: the endpoint's status code, or why there was none.",
  fields: (t) => ({
    attempt: t.exposeInt("attempt", { description: "1 for the first try." }),
    statusCode: t.exposeInt("statusCode", { nullable: true }),
    error: t.exposeString("error", { nullable: true, description: "Null when the endpoint answered 2xx." }),
    startedAt: t.expose("startedAt", { type: "DateTime" }),
    finishedAt: t.expose("finishedAt", { type: "DateTime" }),
  }),
});

const AlertEndpointInput = builder.inputType("AlertEndpointInput", {
  fields: (t) => ({
    name: t.string({ required: true, description: "Unique, stable name." }),
    url: t.string({ required: true, description: "http or https URL that receives a signed JSON POST per alert." }),
    secret: t.string({
      required: true,
      description: "At least 16 characters; signs each delivery (X-Metasync-Signature). Write-only.",
    }),
    events: t.field({ type: [AlertEventEnum], required: true, description: "The alerts this endpoint receives." }),
    enabled: t.boolean({ description: "A disabled endpoint is kept but receives nothing (default true)." }),
  }),
});

const AlertEndpointUpdateInput = builder.inputType("AlertEndpointUpdateInput", {
  description: "Only what is given changes; the secret stays unless a new one is given.",
  fields: (t) => ({
    name: t.string({ description: "A new unique name." }),
    url: t.string({ description: "A new http or https URL." }),
    secret: t.string({ description: "A new signing secret (at least 16 characters); left out, the old one stays." }),
    events: t.field({ type: [AlertEventEnum], description: "The new list of events (replaces the old one)." }),
    enabled: t.boolean({ description: "False stops deliveries to this endpoint; its log stays." }),
  }),
});

builder.queryFields((t) => ({
  alertEndpoints: t.prismaField({
    type: ["AlertEndpoint"],
    authScopes: { admin: true },
    resolve: (query, _root, _args, ctx) => ctx.services.db.prisma.alertEndpoint.findMany({ ...query, orderBy: { name: "asc" } }),
  }),
  alertDeliveries: t.prismaConnection({
    type: "AlertDelivery",
    cursor: "id",
    authScopes: { reader: true },
    description: "The delivery log, newest first.",
    args: {
      status: t.arg({ type: [AlertDeliveryStatusEnum], description: "Only deliveries in one of these statuses." }),
      event: t.arg({ type: [AlertEventEnum], description: "Only deliveries of these alert events." }),
      runId: t.arg.id({ description: "Only alerts about this run." }),
    },
    totalCount: (_conn, args, ctx) => ctx.services.db.prisma.alertDelivery.count({ where: deliveriesWhere(args) }),
    resolve: (query, _root, args, ctx) =>
      ctx.services.db.prisma.alertDelivery.findMany({
        ...query,
        where: deliveriesWhere(args),
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      }),
  }),
}));

function deliveriesWhere(args: {
  status?: AlertDeliveryStatus[] | null;
  event?: AlertEvent[] | null;
  runId?: string | number | null;
}) {
  const alert = {
    ...(args.event?.length ? { event: { in: args.event } } : {}),
    ...(args.runId ? { runId: decodeId("Run", String(args.runId), "runId") } : {}),
  };
  return {
    ...(args.status?.length ? { status: { in: args.status } } : {}),
    ...(Object.keys(alert).length ? { alert } : {}),
  };
}

builder.mutationFields((t) => ({
  createAlertEndpoint: t.prismaField({
    type: "AlertEndpoint",
    authScopes: { admin: true },
    args: { input: t.arg({ type: AlertEndpointInput, required: true, description: "The new endpoint." }) },
    resolve: async (query, _root, { input }, ctx) => {
      const created = await ctx.services.alertEndpoints.create(input);
      // Audit without the secret or the URL's path (chat webhooks carry a token there): who pointed alerts where.
      ctx.services.logger.info(
        { by: ctx.apiKeyId ?? "loopback", alertEndpointId: created.id, host: new URL(created.url).host },
        "alert endpoint created",
      );
      return ctx.services.db.prisma.alertEndpoint.findUniqueOrThrow({ ...query, where: { id: created.id } });
    },
  }),
  updateAlertEndpoint: t.prismaField({
    type: "AlertEndpoint",
    authScopes: { admin: true },
    args: {
      id: t.arg.id({ required: true, description: "Global ID of the endpoint." }),
      input: t.arg({ type: AlertEndpointUpdateInput, required: true, description: "The fields to change." }),
    },
    resolve: async (query, _root, { id, input }, ctx) => {
      const updated = await ctx.services.alertEndpoints.update(decodeId("AlertEndpoint", String(id)), input);
      const changed = Object.keys(input).filter((k) => input[k as keyof typeof input] != null);
      ctx.services.logger.info(
        { by: ctx.apiKeyId ?? "loopback", alertEndpointId: updated.id, changed },
        "alert endpoint updated",
      );
      return ctx.services.db.prisma.alertEndpoint.findUniqueOrThrow({ ...query, where: { id: updated.id } });
    },
  }),
  deleteAlertEndpoint: t.boolean({
    authScopes: { admin: true },
    description: "Removes the endpoint; its deliveries stay in the log.",
    args: { id: t.arg.id({ required: true, description: "Global ID of the endpoint." }) },
    resolve: async (_root, { id }, ctx) => {
      const endpointId = decodeId("AlertEndpoint", String(id));
      await ctx.services.alertEndpoints.delete(endpointId);
      ctx.services.logger.info({ by: ctx.apiKeyId ?? "loopback", alertEndpointId: endpointId }, "alert endpoint deleted");
      return true;
    },
  }),
}));

/** Alerts raised from now on in any process (the event bus), each read once per subscriber. */
function alertStream(services: Services, filter: { events: AlertEvent[] | null; systemId: string | null }) {
  return new Repeater<Alert>(async (push, stop) => {
    const raised = services.bus.subscribe(ALERTS_TOPIC);
    void stop.then(() => raised.return?.());
    for await (const message of raised) {
      const m = message as AlertRaisedPayload;
      if (filter.events && !filter.events.includes(m.event)) continue;
      if (filter.systemId && m.connectedSystemId !== filter.systemId) continue;
      const alert = await services.db.prisma.alert.findUnique({ where: { id: m.alertId } });
      if (alert) await push(alert);
    }
  });
}

builder.subscriptionField("alerts", (t) =>
  t.field({
    type: AlertRef,
    authScopes: { reader: true },
    description: "Every alert raised from now on, from any worker or API process.",
    args: {
      events: t.arg({ type: [AlertEventEnum], description: "Only these events; all when left out." }),
      connectedSystemId: t.arg.id({ description: "Only alerts about this connected system." }),
    },
    subscribe: (_root, args, ctx) =>
      alertStream(ctx.services, {
        events: args.events?.length ? args.events : null,
        systemId: args.connectedSystemId
          ? decodeId("ConnectedSystem", String(args.connectedSystemId), "connectedSystemId")
          : null,
      }),
    resolve: (alert) => alert,
  }),
);
