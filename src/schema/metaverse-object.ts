import { expandAttributeChanges } from "../engine/run-changes.ts";
import { unpackContributions } from "../engine/sync/contributions.ts";
import { AttributeFilter, attributeWhere } from "./attribute-filter.ts";
import { builder } from "./builder.ts";
import { decodeId } from "./global-id.ts";
import { keysetPage } from "./pagination.ts";
import { redactSealed } from "./redact.ts";

/** One run_change row seen from the metaverse object it touched: which run, rule and source set what. */
interface HistoryRow {
  id: bigint;
  runId: string;
  changeType: string;
  attributeChanges: unknown;
  syncRuleId: string | null;
  sourceSystemId: string | null;
  connectorSpaceObjectId: string | null;
  message: string | null;
  createdAt: Date;
}

const AttributeHistoryEntry = builder.objectRef<HistoryRow>("AttributeHistoryEntry").implement({
  description: "What one run did to a metaverse object: the record that explains each attribute value.",
  fields: (t) => ({
    runId: t.exposeID("runId"),
    changeType: t.exposeString("changeType"),
    attributeChanges: t.field({
      type: "JSON",
      description: "[{ attribute, before, after }]",
      resolve: (row) => expandAttributeChanges(row.attributeChanges, row) ?? [],
    }),
    syncRuleId: t.exposeID("syncRuleId", { nullable: true }),
    sourceSystemId: t.exposeID("sourceSystemId", { nullable: true }),
    connectorSpaceObjectId: t.exposeID("connectorSpaceObjectId", { nullable: true }),
    message: t.exposeString("message", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

export const MetaverseObjectRef = builder.prismaNode("MetaverseObject", {
  id: { field: "id" },
  authScopes: { reader: true },
  fields: (t) => ({
    type: t.exposeString("type"),
    displayName: t.exposeString("displayName", { nullable: true }),
    status: t.exposeString("status"),
    attributes: t.field({ type: "JSON", select: { attributes: true }, resolve: (mvo) => redactSealed(mvo.attributes) }),
    contributions: t.field({
      type: "JSON",
      description: "attribute -> { systemId, ruleId, runId, precedence }: who set each current value.",
      resolve: (mvo) => unpackContributions(mvo.contributions),
    }),
    deletionDueAt: t.expose("deletionDueAt", { type: "DateTime", nullable: true }),
    connectors: t.relation("connectors", { query: { orderBy: { id: "asc" } } }),
    // Newest first; bounded so a long-lived identity cannot return an unbounded list.
    history: t.field({
      type: [AttributeHistoryEntry],
      args: { first: t.arg.int({ description: "at most 1000, default 100" }) },
      // run_change keeps no foreign key to the identity (history outlives objects): query by id.
      resolve: (mvo, args, ctx) =>
        ctx.services.db.prisma.runChange.findMany({
          where: { metaverseObjectId: mvo.id },
          orderBy: { id: "desc" },
          take: Math.min(Math.max(args.first ?? 100, 0), 1000),
        }),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

builder.queryFields((t) => ({
  metaverseObjects: t.prismaConnection(
    {
      type: "MetaverseObject",
      cursor: "id",
      authScopes: { reader: true },
      args: {
        type: t.arg.string({ description: 'Only objects of this metaverse type, e.g. "person".' }),
        where: t.arg({ type: AttributeFilter, description: "Only objects whose attribute matches." }),
      },
      totalCount: (_parent, args, ctx) =>
        ctx.services.db.prisma.metaverseObject.count({
          where: { ...(args.type ? { type: args.type } : {}), ...attributeWhere(args.where) },
        }),
      resolve: (query, _parent, args, ctx) => {
        const page = keysetPage(query);
        return ctx.services.db.prisma.metaverseObject.findMany({
          ...page.query,
          where: { ...(args.type ? { type: args.type } : {}), ...attributeWhere(args.where), ...page.idFilter },
          orderBy: { id: "asc" },
        });
      },
    },
    { description: "Ordered by id; cursors stay valid across inserts and deletes." },
  ),
  metaverseObject: t.prismaField({
    type: "MetaverseObject",
    nullable: true,
    authScopes: { reader: true },
    args: { id: t.arg.id({ required: true, description: "Global ID of the metaverse object." }) },
    resolve: (query, _root, args, ctx) =>
      ctx.services.db.prisma.metaverseObject.findUnique({
        ...query,
        where: { id: decodeId("MetaverseObject", String(args.id)) },
      }),
  }),
}));
