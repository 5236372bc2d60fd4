import { resolveCursorConnection } from "@pothos/plugin-relay";
import { expandAttributeChanges } from "../engine/run-changes.ts";
import { unpackContributions } from "../engine/sync/contributions.ts";
import { AppError } from "../errors.ts";
import { AttributeFilter, type ColumnConditions, countMatching, pageOfMatching } from "./attribute-filter.ts";
import { builder, MAX_PAGE_SIZE } from "./builder.ts";
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
    // Newest first; bounded so a long-lived identity cannot return an unbounded list. A larger
    // `first` is refused, not silently cut (a client would take 1,000 entries for all of them).
    history: t.field({
      type: [AttributeHistoryEntry],
      description: `The newest entries of the object's history; historyConnection pages through all of it.`,
      args: { first: t.arg.int({ description: `How many, newest first: 0 to ${MAX_PAGE_SIZE}, default 100.` }) },
      // run_change keeps no foreign key to the identity (history outlives objects): query by id.
      resolve: (mvo, args, ctx) => {
        const first = args.first ?? 100;
        if (first < 0 || first > MAX_PAGE_SIZE)
          throw new AppError(
            "BAD_USER_INPUT",
            `history(first) must be between 0 and ${MAX_PAGE_SIZE}; page through longer histories with historyConnection`,
            { path: "first" },
          );
        return ctx.services.db.prisma.runChange.findMany({
          where: { metaverseObjectId: mvo.id },
          orderBy: { id: "desc" },
          take: first,
        });
      },
    }),
    historyConnection: t.connection(
      {
        type: AttributeHistoryEntry,
        description: "The object's whole history, newest first, in pages: pageInfo.hasNextPage says when there is more.",
        resolve: async (mvo, args, ctx) => {
          for (const name of ["first", "last"] as const) {
            const n = args[name];
            if (n != null && (n < 0 || n > MAX_PAGE_SIZE))
              throw new AppError("BAD_USER_INPUT", `${name} must be between 0 and ${MAX_PAGE_SIZE}`, { path: name });
          }
          const connection = await resolveCursorConnection<Promise<HistoryRow[]>>(
            { args, toCursor: (row: HistoryRow) => row.id.toString(), defaultSize: 100, maxSize: MAX_PAGE_SIZE },
            // Newest first: "after" a cursor is older (a smaller id), "before" it newer.
            ({ before, after, limit, inverted }): Promise<HistoryRow[]> =>
              ctx.services.db.prisma.runChange.findMany({
                where: {
                  metaverseObjectId: mvo.id,
                  id: { ...(after ? { lt: cursorId(after) } : {}), ...(before ? { gt: cursorId(before) } : {}) },
                },
                orderBy: { id: inverted ? "asc" : "desc" },
                take: limit,
              }),
          );
          return { ...connection, metaverseObjectId: mvo.id };
        },
      },
      {
        name: "AttributeHistoryConnection",
        fields: (c) => ({
          totalCount: c.int({
            resolve: (conn, _args, ctx) =>
              ctx.services.db.prisma.runChange.count({
                where: { metaverseObjectId: (conn as unknown as { metaverseObjectId: string }).metaverseObjectId },
              }),
          }),
        }),
      },
    ),
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
        args.where
          ? countMatching(ctx.services.db.pool, "metaverse_object", mvoColumns(args.type), args.where)
          : ctx.services.db.prisma.metaverseObject.count({ where: args.type ? { type: args.type } : {} }),
      resolve: async (query, _parent, args, ctx) => {
        const page = keysetPage(query);
        const prisma = ctx.services.db.prisma;
        if (!args.where)
          return prisma.metaverseObject.findMany({
            ...page.query,
            where: { ...(args.type ? { type: args.type } : {}), ...page.idFilter },
            orderBy: { id: "asc" },
          });
        // Attribute filters are SQL (attribute-filter.ts): the page's ids first, then the objects.
        const { take, ...select } = page.query;
        const ids = await pageOfMatching(ctx.services.db.pool, "metaverse_object", mvoColumns(args.type), args.where, {
          take,
          idFilter: page.idFilter,
        });
        return prisma.metaverseObject.findMany({ ...select, where: { id: { in: ids } }, orderBy: { id: "asc" } });
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

const mvoColumns = (type: string | null | undefined): ColumnConditions => (type ? [["type", type]] : []);

/** A history cursor is a run_change id; anything else is the client's mistake. */
function cursorId(cursor: string): bigint {
  if (!/^\d{1,19}$/.test(cursor)) throw new AppError("BAD_USER_INPUT", "not a history cursor", { path: "after" });
  return BigInt(cursor);
}
