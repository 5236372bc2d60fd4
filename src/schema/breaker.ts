import { type BreakerConfig, type BreakerLimits, type Crossing, ruleLimits, systemLimits } from "../engine/outbound/breaker.ts";
import { builder } from "./builder.ts";
import { decodeId } from "./global-id.ts";

/** The mass-change breaker: configuration inputs, what is in force, and the holds it made. */

const BreakerAttributeInput = builder.inputType("BreakerAttributeInput", {
  fields: (t) => ({
    name: t.string({ required: true, description: "The system's own attribute name, e.g. department." }),
    maxChangePercent: t.float({
      required: true,
      description: "Hold the run when updates change this attribute on more than this share (0-100) of the system's objects.",
    }),
  }),
});

export const BreakerInput = builder.inputType("BreakerInput", {
  description:
    "Limits on what one sync run may change in a system (or through one rule); a run crossing one holds its exports there AWAITING_APPROVAL with the reason. Percentages (0-100) are of the system's objects; counts are 0 or more. A system's delete limits default to 500 / 5% when neither is given.",
  fields: (t) => ({
    enabled: t.boolean({ description: "false: no limit at all, the default delete protection included (default true)." }),
    maxCreatePercent: t.float({ description: "Creates above this share of the system's objects." }),
    maxUpdatePercent: t.float({ description: "Updates above this share of the system's objects." }),
    maxDeletePercent: t.float({ description: "Deletes above this share of the system's objects (default 5)." }),
    maxCreates: t.int({ description: "More creates than this." }),
    maxUpdates: t.int({ description: "More updates than this." }),
    maxDeletes: t.int({ description: "More deletes than this (default 500)." }),
    attributes: t.field({ type: [BreakerAttributeInput], description: "Limits on changes of given attributes." }),
  }),
});

const BreakerAttributeRef = builder.objectRef<{ name: string; maxChangePercent: number }>("BreakerAttribute").implement({
  fields: (t) => ({
    name: t.exposeString("name"),
    maxChangePercent: t.exposeFloat("maxChangePercent"),
  }),
});

const BreakerRef = builder.objectRef<BreakerLimits & { enabled: boolean }>("Breaker").implement({
  description: "Mass-change limits in force (null: no limit of that kind).",
  fields: (t) => ({
    enabled: t.exposeBoolean("enabled"),
    isDefault: t.exposeBoolean("isDefault", {
      description: "No breaker is configured: the default protection (deletes above 500 or 5%) applies.",
    }),
    maxCreatePercent: t.exposeFloat("maxCreatePercent", { nullable: true }),
    maxUpdatePercent: t.exposeFloat("maxUpdatePercent", { nullable: true }),
    maxDeletePercent: t.exposeFloat("maxDeletePercent", { nullable: true }),
    maxCreates: t.exposeInt("maxCreates", { nullable: true }),
    maxUpdates: t.exposeInt("maxUpdates", { nullable: true }),
    maxDeletes: t.exposeInt("maxDeletes", { nullable: true }),
    attributes: t.field({ type: [BreakerAttributeRef], resolve: (b) => b.attributes }),
  }),
});

const BreakerCrossingRef = builder.objectRef<Crossing>("BreakerCrossing").implement({
  description: "One limit a run crossed, with the figure that crossed it.",
  fields: (t) => ({
    field: t.exposeString("field", { description: 'The limit, e.g. "maxDeletePercent" or "attributes.department".' }),
    limit: t.exposeFloat("limit"),
    actual: t.exposeFloat("actual"),
    unit: t.exposeString("unit", { description: "count or percent" }),
  }),
});

builder.prismaObjectFields("ConnectedSystem", (t) => ({
  breaker: t.field({
    type: "JSON",
    nullable: true,
    description: "The mass-change breaker as configured (null: the default protection).",
    select: { breaker: true },
    resolve: (s) => s.breaker,
  }),
  effectiveBreaker: t.field({
    type: BreakerRef,
    description: "The mass-change limits a sync run planning exports to this system is held by.",
    select: { breaker: true },
    resolve: (s) => {
      const config = s.breaker as BreakerConfig | null;
      return { ...systemLimits(config), enabled: config?.enabled !== false };
    },
  }),
}));

builder.prismaObjectFields("SyncRule", (t) => ({
  breaker: t.field({
    type: BreakerRef,
    nullable: true,
    description: "OUTBOUND: this rule's own mass-change limits, on the exports it plans (null: none).",
    select: { breaker: true },
    resolve: (r) => {
      const limits = ruleLimits(r.breaker as BreakerConfig | null);
      return limits ? { ...limits, enabled: true } : null;
    },
  }),
}));

export const BreakerHoldRef = builder.prismaNode("BreakerHold", {
  id: { field: "id" },
  authScopes: { reader: true },
  description:
    "A sync run whose planned exports to one system crossed a mass-change breaker: they wait AWAITING_APPROVAL (approvePendingExports / rejectPendingExports with runId).",
  fields: (t) => ({
    run: t.relation("run"),
    connectedSystem: t.relation("connectedSystem"),
    syncRuleId: t.exposeID("syncRuleId", { nullable: true, description: "Set when a rule's own breaker held the run." }),
    reason: t.exposeString("reason", { description: "One sentence with the figures." }),
    isDefault: t.exposeBoolean("isDefault", { description: "The default protection held it (no breaker configured)." }),
    figures: t.expose("figures", {
      type: "JSON",
      description: "{ creates, updates, deletes, objects, attributes: { name: updates } } the run planned.",
    }),
    crossings: t.field({ type: [BreakerCrossingRef], resolve: (h) => h.crossings as unknown as Crossing[] }),
    held: t.exposeInt("held", { description: "Exports the hold set AWAITING_APPROVAL." }),
    awaitingApproval: t.int({
      description: "Of the run's exports to this system, how many still wait for approval.",
      resolve: (h, _args, ctx) =>
        ctx.services.db.prisma.pendingExport.count({
          where: {
            planningRunId: h.runId,
            connectedSystemId: h.connectedSystemId,
            status: "AWAITING_APPROVAL",
            ...(h.syncRuleId ? { syncRuleId: h.syncRuleId } : {}),
          },
        }),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

builder.prismaObjectFields("Run", (t) => ({
  breakerHolds: t.relation("breakerHolds", {
    description: "Mass-change breaker holds of the exports this run planned.",
    query: { orderBy: { createdAt: "asc" } },
  }),
}));

builder.queryField("breakerHolds", (t) =>
  t.prismaField({
    type: ["BreakerHold"],
    authScopes: { reader: true },
    description: "Mass-change breaker holds, newest first.",
    args: {
      connectedSystemId: t.arg.id({ description: "Only holds of exports to this system." }),
      runId: t.arg.id({ description: "Only holds of this run." }),
      open: t.arg.boolean({ description: "true: only holds with exports still awaiting approval." }),
      first: t.arg.int({ defaultValue: 50, description: "At most this many (1-500)." }),
    },
    resolve: async (query, _root, args, ctx) => {
      const systemId = args.connectedSystemId
        ? decodeId("ConnectedSystem", String(args.connectedSystemId), "connectedSystemId")
        : undefined;
      const runId = args.runId ? decodeId("Run", String(args.runId), "runId") : undefined;
      // Open: the run still has exports to that system (of that rule) awaiting approval.
      const open = args.open
        ? (
            await ctx.services.db.pool.query<{ id: string }>(
              `SELECT h.id FROM breaker_hold h
                WHERE ($1::uuid IS NULL OR h.connected_system_id = $1) AND ($2::uuid IS NULL OR h.run_id = $2)
                  AND EXISTS (SELECT 1 FROM pending_export p WHERE p.planning_run_id = h.run_id AND p.connected_system_id = h.connected_system_id
                                 AND p.status = 'AWAITING_APPROVAL' AND (h.sync_rule_id IS NULL OR p.sync_rule_id = h.sync_rule_id))`,
              [systemId ?? null, runId ?? null],
            )
          ).rows.map((r) => r.id)
        : null;
      return ctx.services.db.prisma.breakerHold.findMany({
        ...query,
        where: {
          ...(systemId ? { connectedSystemId: systemId } : {}),
          ...(runId ? { runId } : {}),
          ...(open ? { id: { in: open } } : {}),
        },
        orderBy: { createdAt: "desc" },
        take: Math.min(Math.max(args.first ?? 50, 1), 500),
      });
    },
  }),
);
