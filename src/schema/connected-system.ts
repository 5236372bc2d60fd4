import type { RateLimit } from "../engine/connected-system/rate-limiter.ts";
import { inboxStats, type RealtimeSettings } from "../engine/realtime/inbox-store.ts";
import { DEFAULT_WINDOW_MS } from "../jobs/realtime-drainer.ts";
import { DEFAULT_POLL_INTERVAL_MS } from "../jobs/watchers/settings.ts";
import { ConnectedSystems } from "../systems/connected-systems.ts";
import { RateLimitSchema } from "../systems/rate-limit-input.ts";
import { DEFAULT_PUSH_BATCH, RealtimeSchema } from "../systems/realtime-input.ts";
import { BreakerInput } from "./breaker.ts";
import { builder } from "./builder.ts";
import { AttributeTypeEnum, ConnectorKindEnum } from "./enums.ts";
import { decodeId } from "./global-id.ts";
import { SYSTEMS_TOPIC } from "./topics.ts";

const RateLimitRef = builder.objectRef<RateLimit>("RateLimit").implement({
  description: "A connected system's rate limit, shared by every worker; a target's Retry-After is heeded besides.",
  fields: (t) => ({
    requestsPerSecond: t.float({ nullable: true, resolve: (l) => l.requestsPerSecond ?? null }),
    objectsPerSecond: t.float({ nullable: true, resolve: (l) => l.objectsPerSecond ?? null }),
    burst: t.int({ nullable: true, resolve: (l) => l.burst ?? null }),
  }),
});

const RateLimitInput = builder.inputType("RateLimitInput", {
  fields: (t) => ({
    requestsPerSecond: t.float({ description: RateLimitSchema.shape.requestsPerSecond.description }),
    objectsPerSecond: t.float({ description: RateLimitSchema.shape.objectsPerSecond.description }),
    burst: t.int({ description: RateLimitSchema.shape.burst.description }),
  }),
});

interface RealtimeShown extends RealtimeSettings {
  webhookSecretSet: boolean;
}

const RealtimeRef = builder.objectRef<RealtimeShown>("Realtime").implement({
  description: "Pushed changes (POST /hooks/<system>) applied in micro-batches; see README Real-time.",
  fields: (t) => ({
    enabled: t.exposeBoolean("enabled"),
    windowMs: t.int({ resolve: (r) => r.windowMs ?? DEFAULT_WINDOW_MS }),
    batchSize: t.int({ resolve: (r) => r.batchSize ?? DEFAULT_PUSH_BATCH }),
    watch: t.boolean({ description: RealtimeSchema.shape.watch.description, resolve: (r) => r.watch ?? false }),
    pollIntervalMs: t.int({
      description: RealtimeSchema.shape.pollIntervalMs.description,
      resolve: (r) => r.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    }),
    webhookSecretSet: t.exposeBoolean("webhookSecretSet", {
      description: "A webhook secret is stored (pushes may be signed with X-Metasync-Signature); never readable.",
    }),
  }),
});

const InboxRef = builder.objectRef<{ depth: number; oldestAgeMs: number | null }>("Inbox").implement({
  description: "Pushed changes waiting to be applied.",
  fields: (t) => ({
    depth: t.exposeInt("depth"),
    oldestAgeMs: t.float({ nullable: true, resolve: (i) => i.oldestAgeMs }),
  }),
});

const RealtimeInput = builder.inputType("RealtimeInput", {
  fields: (t) => ({
    enabled: t.boolean({ required: true, description: RealtimeSchema.shape.enabled.description }),
    windowMs: t.int({ description: RealtimeSchema.shape.windowMs.description }),
    batchSize: t.int({ description: RealtimeSchema.shape.batchSize.description }),
    watch: t.boolean({ description: RealtimeSchema.shape.watch.description }),
    pollIntervalMs: t.int({ description: RealtimeSchema.shape.pollIntervalMs.description }),
    webhookSecret: t.string({ description: RealtimeSchema.shape.webhookSecret.description }),
  }),
});

export const ConnectedSystemRef = builder.prismaNode("ConnectedSystem", {
  id: { field: "id" },
  fields: (t) => ({
    name: t.exposeString("name"),
    kind: t.expose("kind", { type: ConnectorKindEnum }),
    description: t.exposeString("description", { nullable: true }),
    deleteThreshold: t.exposeInt("deleteThreshold", { nullable: true }),
    staging: t.exposeBoolean("staging", {
      description: "Staging mode: exports are planned and kept for review (pendingExports), never sent.",
    }),
    rateLimit: t.field({
      type: RateLimitRef,
      nullable: true,
      description: "Pace of every worker's calls to the system (null: unlimited).",
      resolve: (system) => system.rateLimit as RateLimit | null,
    }),
    realtime: t.field({
      type: RealtimeRef,
      nullable: true,
      description: "Real-time settings (null: pushes are refused).",
      resolve: (system) =>
        system.realtime
          ? { ...(system.realtime as unknown as RealtimeSettings), webhookSecretSet: !!system.webhookSecret }
          : null,
    }),
    inbox: t.field({
      type: InboxRef,
      description: "Pushed changes waiting to be applied, and how long the oldest has waited.",
      resolve: async (system, _args, ctx) => {
        const [stats] = await inboxStats(ctx.services.db.pool, system.id);
        return { depth: stats?.depth ?? 0, oldestAgeMs: stats?.oldestAgeMs ?? null };
      },
    }),
    settingsVersion: t.exposeInt("currentSettingsVersion"),
    schemaDiscoveredAt: t.expose("schemaDiscoveredAt", { type: "DateTime", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    // Versions only grow and the current one is the newest: take 1 by version desc.
    config: t.field({
      type: "JSON",
      description: "Connector configuration; secret fields read as ********.",
      select: { settings: { orderBy: { version: "desc" }, take: 1 } },
      resolve: (system) => {
        const current = system.settings[0];
        return current ? ConnectedSystems.redact(system.kind, current) : {};
      },
    }),
    connectionId: t.field({
      type: "ID",
      description: "The connection settings a run started now would pin.",
      select: { settings: { orderBy: { version: "desc" }, take: 1, select: { id: true } } },
      resolve: (system) => system.settings[0]?.id ?? "",
    }),
    objectTypes: t.relation("objectTypes", { query: { orderBy: { name: "asc" } } }),
  }),
});

builder.prismaObject("ObjectType", {
  fields: (t) => ({
    name: t.exposeString("name"),
    anchorAttribute: t.exposeString("anchorAttribute", { nullable: true }),
    // listSize: what the query cost assumes per object type (server/query-cost.ts), so many
    // aliases of a wide schema are refused before they are answered.
    attributes: t.relation("attributes", { query: { orderBy: { name: "asc" } }, extensions: { listSize: 1000 } }),
  }),
});

builder.prismaObject("AttributeDefinition", {
  fields: (t) => ({
    name: t.exposeString("name"),
    type: t.expose("type", { type: AttributeTypeEnum }),
    multiValued: t.exposeBoolean("multiValued"),
    required: t.exposeBoolean("required"),
  }),
});

const ConnectedSystemInput = builder.inputType("ConnectedSystemInput", {
  fields: (t) => ({
    name: t.string({ required: true, description: "Unique, stable; used by the CLI and YAML." }),
    kind: t.field({ type: ConnectorKindEnum, required: true, description: "Connector kind; it cannot change later." }),
    description: t.string({ description: "Free text shown with the system." }),
    config: t.field({
      type: "JSON",
      required: true,
      description:
        "Connector-specific configuration; its JSON Schema per kind is Query.connectorKinds. A secret field left out or sent as ******** keeps its stored value.",
    }),
    deleteThreshold: t.int({
      description: "An export that would delete more objects than this holds its deletes AWAITING_APPROVAL.",
    }),
    breaker: t.field({
      type: BreakerInput,
      description:
        "Mass-change breaker: a sync run planning more changes to this system than a limit holds them AWAITING_APPROVAL. Null: the default protection (deletes above 500 or 5% of the system); left out on update: unchanged.",
    }),
    staging: t.boolean({
      description:
        "Staging mode: imports and syncs run and plan exports, exports are never sent (EXPORT is BLOCKED with STAGING; a dry run still previews). Turned off, the next EXPORT sends what waits. Left out on update: unchanged.",
    }),
    realtime: t.field({
      type: RealtimeInput,
      description: "Accept pushed changes for this system; null turns it off, left out on update: unchanged.",
    }),
    rateLimit: t.field({
      type: RateLimitInput,
      description:
        "Pace of imports, exports and pushes to this system, held in the database for every worker; null removes it, left out on update: unchanged.",
    }),
  }),
});

builder.queryFields((t) => ({
  connectedSystems: t.prismaField({
    type: ["ConnectedSystem"],
    authScopes: { reader: true },
    resolve: (query, _root, _args, ctx) =>
      ctx.services.db.prisma.connectedSystem.findMany({ ...query, orderBy: { name: "asc" } }),
  }),
  connectedSystem: t.prismaField({
    type: "ConnectedSystem",
    nullable: true,
    authScopes: { reader: true },
    args: {
      id: t.arg.id({ description: "Global ID of the system (or give name)." }),
      name: t.arg.string({ description: "Unique name of the system (or give id)." }),
    },
    resolve: (query, _root, args, ctx) => {
      const prisma = ctx.services.db.prisma;
      if (args.id)
        return prisma.connectedSystem.findUnique({ ...query, where: { id: decodeId("ConnectedSystem", String(args.id)) } });
      if (args.name) return prisma.connectedSystem.findUnique({ ...query, where: { name: args.name } });
      return null;
    },
  }),
}));

builder.mutationFields((t) => ({
  createConnectedSystem: t.prismaField({
    type: "ConnectedSystem",
    authScopes: { admin: true },
    args: { input: t.arg({ type: ConnectedSystemInput, required: true, description: "The new system." }) },
    resolve: async (query, _root, { input }, ctx) => {
      const created = await ctx.services.systems.create(input);
      await ctx.services.bus.publish(SYSTEMS_TOPIC, { change: "CREATED", id: created.id });
      return ctx.services.db.prisma.connectedSystem.findUniqueOrThrow({ ...query, where: { id: created.id } });
    },
  }),
  updateConnectedSystem: t.prismaField({
    type: "ConnectedSystem",
    authScopes: { admin: true },
    args: {
      id: t.arg.id({ required: true, description: "Global ID of the system." }),
      input: t.arg({
        type: ConnectedSystemInput,
        required: true,
        description: "Its whole new state; a config change is a new settings version.",
      }),
    },
    resolve: async (query, _root, { id, input }, ctx) => {
      const updated = await ctx.services.systems.update(decodeId("ConnectedSystem", String(id)), input);
      await ctx.services.bus.publish(SYSTEMS_TOPIC, { change: "UPDATED", id: updated.id });
      return ctx.services.db.prisma.connectedSystem.findUniqueOrThrow({ ...query, where: { id: updated.id } });
    },
  }),
  deleteConnectedSystem: t.boolean({
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true, description: "Global ID of the system; refused while it has an active run." }) },
    resolve: async (_root, { id }, ctx) => {
      const systemId = decodeId("ConnectedSystem", String(id));
      await ctx.services.systems.delete(systemId);
      await ctx.services.bus.publish(SYSTEMS_TOPIC, { change: "DELETED", id: systemId });
      return true;
    },
  }),
}));
