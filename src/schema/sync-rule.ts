import { type AttributeFlow, DEDUPE_MATCHES, DEDUPE_STRATEGIES, type JoinRule } from "../engine/rule-config.ts";
import { ConflictStrategy, MvoDeletionRule } from "../generated/prisma/enums.ts";
import type { SyncRuleInput } from "../systems/sync-rules.ts";
import { BreakerInput } from "./breaker.ts";
import { builder } from "./builder.ts";
import { DeprovisionActionEnum, SyncDirectionEnum } from "./enums.ts";
import { decodeId } from "./global-id.ts";

const MvoDeletionRuleEnum = builder.enumType(MvoDeletionRule, { name: "MvoDeletionRule" });
// Values are the strings the field accepted when it was a String (newest_wins...): variables stay compatible.
const ConflictStrategyEnum = builder.enumType(ConflictStrategy, { name: "ConflictStrategy" });

const JoinRuleRef = builder.objectRef<JoinRule>("JoinRule").implement({
  fields: (t) => ({
    source: t.exposeString("source"),
    metaverseAttribute: t.exposeString("metaverseAttribute"),
  }),
});

const AttributeFlowRef = builder.objectRef<AttributeFlow>("AttributeFlow").implement({
  fields: (t) => ({
    target: t.exposeString("target"),
    source: t.exposeString("source", { nullable: true }),
    expression: t.exposeString("expression", { nullable: true }),
    unique: t.boolean({ resolve: (f) => f.unique ?? false }),
    initialOnly: t.boolean({ resolve: (f) => f.initialOnly ?? false }),
    reference: t.boolean({ resolve: (f) => f.reference ?? false }),
  }),
});

export const SyncRuleRef = builder.prismaNode("SyncRule", {
  id: { field: "id" },
  authScopes: { reader: true },
  fields: (t) => ({
    name: t.exposeString("name"),
    connectedSystem: t.relation("connectedSystem"),
    direction: t.expose("direction", { type: SyncDirectionEnum }),
    enabled: t.exposeBoolean("enabled"),
    objectType: t.exposeString("objectType"),
    metaverseObjectType: t.exposeString("metaverseObjectType"),
    scope: t.exposeString("scope", { nullable: true }),
    joinRules: t.field({ type: [JoinRuleRef], resolve: (r) => r.joinRules as JoinRule[] }),
    projectToMetaverse: t.exposeBoolean("projectToMetaverse"),
    provisionToConnector: t.exposeBoolean("provisionToConnector"),
    deprovision: t.expose("deprovision", { type: DeprovisionActionEnum, nullable: true }),
    deprovisionGraceSeconds: t.exposeInt("deprovisionGraceSeconds", { nullable: true }),
    disableFlow: t.expose("disableFlow", { type: "JSON", nullable: true }),
    precedence: t.exposeInt("precedence"),
    attributeFlows: t.field({ type: [AttributeFlowRef], resolve: (r) => r.attributeFlows as AttributeFlow[] }),
    mvoDeletionRule: t.expose("mvoDeletionRule", { type: MvoDeletionRuleEnum }),
    mvoDeletionGraceSeconds: t.exposeInt("mvoDeletionGraceSeconds"),
    deduplication: t.expose("deduplication", { type: "JSON", nullable: true }),
    conflictStrategy: t.expose("conflictStrategy", { type: ConflictStrategyEnum, nullable: true }),
    requireApprovalForCreate: t.exposeBoolean("requireApprovalForCreate"),
    requireApprovalForDelete: t.exposeBoolean("requireApprovalForDelete"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

const JoinRuleInput = builder.inputType("JoinRuleInput", {
  fields: (t) => ({
    source: t.string({ required: true, description: "Attribute name or JSONata expression." }),
    metaverseAttribute: t.string({ required: true, description: "Metaverse attribute the source value must equal." }),
  }),
});

const AttributeFlowInput = builder.inputType("AttributeFlowInput", {
  fields: (t) => ({
    target: t.string({ required: true, description: 'Attribute written; "dn" is the LDAP distinguished name.' }),
    source: t.string({ description: "Attribute copied as-is, or ..." }),
    expression: t.string({
      description: "... JSONata over the source attributes; $n = 1, 2, 3 while a unique value is searched.",
    }),
    unique: t.boolean({ description: "The value must be unique among this system's objects: retried with $n + 1." }),
    initialOnly: t.boolean({ description: "Only written when the object is created." }),
    reference: t.boolean({ description: "The value references another metaverse object (manager, member)." }),
  }),
});

const SyncRuleInputRef = builder.inputType("SyncRuleInput", {
  fields: (t) => ({
    name: t.string({ required: true, description: "Unique, stable name; used by the CLI and YAML." }),
    connectedSystemId: t.id({ required: true, description: "Global ID of the connected system." }),
    direction: t.field({
      type: SyncDirectionEnum,
      required: true,
      description: "INBOUND: connector space to metaverse; OUTBOUND: metaverse to connector space.",
    }),
    objectType: t.string({ required: true, description: 'Connector object type, e.g. "person" or "inetOrgPerson".' }),
    metaverseObjectType: t.string({ required: true, description: 'Metaverse object type, e.g. "person".' }),
    scope: t.string({ description: "JSONata over the source object's attributes; in scope when true; null = all." }),
    joinRules: t.field({
      type: [JoinRuleInput],
      description: "Ordered; the first that finds exactly one metaverse object wins.",
    }),
    projectToMetaverse: t.boolean({ description: "INBOUND: create a metaverse object when nothing joins." }),
    provisionToConnector: t.boolean({
      description: "OUTBOUND: create a connector object when the metaverse object is in scope and not joined.",
    }),
    deprovision: t.field({
      type: DeprovisionActionEnum,
      description: "OUTBOUND: what happens to a connector object that leaves scope.",
    }),
    precedence: t.int({
      description: "INBOUND: lower number wins when several systems flow into the same metaverse attribute (default 100).",
    }),
    attributeFlows: t.field({ type: [AttributeFlowInput], required: true, description: "Attributes written by this rule." }),
    enabled: t.boolean({ description: "A disabled rule is kept but not used by runs (default true)." }),
    deprovisionGraceSeconds: t.int({ description: "OUTBOUND: seconds to wait before deprovisioning." }),
    disableFlow: t.field({ type: "JSON", description: '{ "attribute": "employeeStatus", "value": "disabled" }' }),
    mvoDeletionRule: t.field({
      type: MvoDeletionRuleEnum,
      description: "INBOUND: when a metaverse object is deleted (default MANUAL).",
    }),
    mvoDeletionGraceSeconds: t.int({ description: "INBOUND: seconds to wait before that deletion." }),
    deduplication: t.field({
      type: "JSON",
      description: `{ keys, match: ${DEDUPE_MATCHES.join("|")}, threshold?, strategy: ${DEDUPE_STRATEGIES.join("|")} }`,
    }),
    conflictStrategy: t.field({ type: ConflictStrategyEnum, description: "How a conflicting attribute value is resolved." }),
    requireApprovalForCreate: t.boolean({ description: "OUTBOUND: creates wait AWAITING_APPROVAL." }),
    requireApprovalForDelete: t.boolean({ description: "OUTBOUND: deletes wait AWAITING_APPROVAL." }),
    breaker: t.field({
      type: BreakerInput,
      description: "OUTBOUND: this rule's own mass-change limits, on the exports it plans (no default).",
    }),
  }),
});

/** GraphQL input -> service input: ids decoded, GraphQL nulls inside flows dropped. */
function toServiceInput(input: typeof SyncRuleInputRef.$inferInput): SyncRuleInput {
  const strip = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v != null));
  return {
    ...input,
    connectedSystemId: decodeId("ConnectedSystem", String(input.connectedSystemId), "connectedSystemId"),
    joinRules: input.joinRules?.map(strip) ?? null,
    attributeFlows: input.attributeFlows.map(strip),
  };
}

builder.queryFields((t) => ({
  syncRules: t.prismaField({
    type: ["SyncRule"],
    authScopes: { reader: true },
    args: { connectedSystemId: t.arg.id({ description: "Only this connected system's rules." }) },
    resolve: (query, _root, args, ctx) =>
      ctx.services.db.prisma.syncRule.findMany({
        ...query,
        where: args.connectedSystemId
          ? { connectedSystemId: decodeId("ConnectedSystem", String(args.connectedSystemId), "connectedSystemId") }
          : {},
        orderBy: [{ precedence: "asc" }, { name: "asc" }],
      }),
  }),
  syncRule: t.prismaField({
    type: "SyncRule",
    nullable: true,
    authScopes: { reader: true },
    args: {
      id: t.arg.id({ description: "Global ID of the rule (or give name)." }),
      name: t.arg.string({ description: "Unique name of the rule (or give id)." }),
    },
    resolve: (query, _root, args, ctx) => {
      if (args.id)
        return ctx.services.db.prisma.syncRule.findUnique({ ...query, where: { id: decodeId("SyncRule", String(args.id)) } });
      if (args.name) return ctx.services.db.prisma.syncRule.findUnique({ ...query, where: { name: args.name } });
      return null;
    },
  }),
}));

builder.mutationFields((t) => ({
  createSyncRule: t.prismaField({
    type: "SyncRule",
    authScopes: { admin: true },
    args: { input: t.arg({ type: SyncRuleInputRef, required: true, description: "The new rule." }) },
    resolve: async (query, _root, { input }, ctx) => {
      const created = await ctx.services.syncRules.create(toServiceInput(input));
      return ctx.services.db.prisma.syncRule.findUniqueOrThrow({ ...query, where: { id: created.id } });
    },
  }),
  updateSyncRule: t.prismaField({
    type: "SyncRule",
    authScopes: { admin: true },
    args: {
      id: t.arg.id({ required: true, description: "Global ID of the rule." }),
      input: t.arg({ type: SyncRuleInputRef, required: true, description: "Its whole new state." }),
    },
    resolve: async (query, _root, { id, input }, ctx) => {
      const updated = await ctx.services.syncRules.update(decodeId("SyncRule", String(id)), toServiceInput(input));
      return ctx.services.db.prisma.syncRule.findUniqueOrThrow({ ...query, where: { id: updated.id } });
    },
  }),
  deleteSyncRule: t.boolean({
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true, description: "Global ID of the rule." }) },
    resolve: (_root, { id }, ctx) => ctx.services.syncRules.delete(decodeId("SyncRule", String(id))),
  }),
}));
