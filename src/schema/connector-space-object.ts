import { AttributeFilter, type ColumnConditions, countMatching, pageOfMatching } from "./attribute-filter.ts";
import { builder } from "./builder.ts";
import { JoinTypeEnum } from "./enums.ts";
import { decodeId } from "./global-id.ts";
import { keysetPage } from "./pagination.ts";
import { redactSealed } from "./redact.ts";

export const ConnectorSpaceObjectRef = builder.prismaNode("ConnectorSpaceObject", {
  id: { field: "id" },
  authScopes: { reader: true },
  fields: (t) => ({
    // Not a Prisma relation (the table has no foreign key, see schema.prisma); Prisma batches the
    // findUnique calls of one tick into one query, so a page of objects costs one lookup.
    connectedSystem: t.prismaField({
      type: "ConnectedSystem",
      resolve: (query, cso, _args, ctx) =>
        ctx.services.db.prisma.connectedSystem.findUniqueOrThrow({ ...query, where: { id: cso.connectedSystemId } }),
    }),
    objectType: t.exposeString("objectType"),
    anchor: t.exposeString("anchor"),
    distinguishedName: t.exposeString("distinguishedName", { nullable: true }),
    attributes: t.field({ type: "JSON", select: { attributes: true }, resolve: (cso) => redactSealed(cso.attributes) }),
    status: t.exposeString("status", { description: "NORMAL | OBSOLETE | PENDING_PROVISIONING" }),
    joinType: t.expose("joinType", { type: JoinTypeEnum, nullable: true }),
    joinedAt: t.expose("joinedAt", { type: "DateTime", nullable: true }),
    metaverseObject: t.relation("metaverseObject", { nullable: true }),
    importedAt: t.expose("importedAt", { type: "DateTime", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

builder.queryFields((t) => ({
  connectorSpaceObjects: t.prismaConnection(
    {
      type: "ConnectorSpaceObject",
      cursor: "id",
      authScopes: { reader: true },
      args: {
        connectedSystemId: t.arg.id({ required: true, description: "Global ID of the connected system." }),
        objectType: t.arg.string({ description: 'Only objects of this connector object type, e.g. "inetOrgPerson".' }),
        where: t.arg({ type: AttributeFilter, description: "Only objects whose attribute matches." }),
      },
      totalCount: (_parent, args, ctx) =>
        args.where
          ? countMatching(ctx.services.db.pool, "connector_space_object", csoColumns(args), args.where)
          : ctx.services.db.prisma.connectorSpaceObject.count({ where: csoColumnWhere(args) }),
      resolve: async (query, _parent, args, ctx) => {
        const page = keysetPage(query);
        const prisma = ctx.services.db.prisma;
        if (!args.where)
          return prisma.connectorSpaceObject.findMany({
            ...page.query,
            where: { ...csoColumnWhere(args), ...page.idFilter },
            orderBy: { id: "asc" },
          });
        // Attribute filters are SQL (attribute-filter.ts): the page's ids first, then the objects.
        const { take, ...select } = page.query;
        const ids = await pageOfMatching(ctx.services.db.pool, "connector_space_object", csoColumns(args), args.where, {
          take,
          idFilter: page.idFilter,
        });
        return prisma.connectorSpaceObject.findMany({ ...select, where: { id: { in: ids } }, orderBy: { id: "asc" } });
      },
    },
    { description: "Ordered by id; cursors stay valid across inserts and deletes." },
  ),
}));

interface CsoArgs {
  connectedSystemId: string | number;
  objectType?: string | null;
}

function csoColumnWhere(args: CsoArgs) {
  return {
    connectedSystemId: decodeId("ConnectedSystem", String(args.connectedSystemId), "connectedSystemId"),
    ...(args.objectType ? { objectType: args.objectType } : {}),
  };
}

function csoColumns(args: CsoArgs): ColumnConditions {
  const where = csoColumnWhere(args);
  return [
    ["connected_system_id", where.connectedSystemId],
    ...(args.objectType ? [["object_type", args.objectType] as [string, string]] : []),
  ];
}
