import {
  ATTRIBUTE_CHANGE_OPERATIONS as OPERATIONS,
  type AttributeChangeOperation as Operation,
} from "../connectors/connector.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import { builder } from "./builder.ts";
import { PendingExportChangeTypeEnum, PendingExportStatusEnum } from "./enums.ts";
import { decodeId } from "./global-id.ts";
import { keysetPage } from "./pagination.ts";
import { redactSealed } from "./redact.ts";

const AttributeChangeOperationEnum = builder.enumType("AttributeChangeOperation", { values: OPERATIONS });

interface AttributeChangeRow {
  attribute: string;
  operation: Operation;
  values: string[];
  status: string;
}

const AttributeChange = builder.objectRef<AttributeChangeRow>("AttributeChange").implement({
  fields: (t) => ({
    attribute: t.exposeString("attribute"),
    operation: t.expose("operation", { type: AttributeChangeOperationEnum }),
    values: t.exposeStringList("values"),
    status: t.exposeString("status"),
  }),
});

/**
 * The jsonb column as the API shows it: values as strings (sealed ones as SECRET_PLACEHOLDER,
 * redacted here in the one walk of each page's changes), a missing status is PENDING.
 */
function attributeChanges(raw: unknown): AttributeChangeRow[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((c: Record<string, unknown>) => {
    if (typeof c?.attribute !== "string") return [];
    const operation = OPERATIONS.includes(c.operation as Operation) ? (c.operation as Operation) : "REPLACE";
    const values = Array.isArray(c.values) ? c.values : c.values == null ? [] : [c.values];
    return [
      {
        attribute: c.attribute,
        operation,
        values: values.map((v) => (typeof v === "string" ? redactSealed(v) : JSON.stringify(redactSealed(v)))),
        status: typeof c.status === "string" ? c.status : "PENDING",
      },
    ];
  });
}

export const PendingExportRef = builder.prismaNode("PendingExport", {
  id: { field: "id" },
  authScopes: { reader: true },
  fields: (t) => ({
    connectedSystem: t.relation("connectedSystem"),
    changeType: t.expose("changeType", { type: PendingExportChangeTypeEnum }),
    status: t.expose("status", { type: PendingExportStatusEnum }),
    connectorSpaceObject: t.relation("connectorSpaceObject", { nullable: true }),
    metaverseObject: t.relation("metaverseObject", { nullable: true }),
    attributeChanges: t.field({
      type: [AttributeChange],
      select: { attributeChanges: true },
      resolve: (pe) => attributeChanges(pe.attributeChanges),
    }),
    beforeValues: t.expose("beforeValues", { type: "JSON", nullable: true }),
    syncRuleId: t.exposeID("syncRuleId", { nullable: true }),
    errorCount: t.exposeInt("errorCount"),
    maxRetries: t.exposeInt("maxRetries"),
    nextRetryAt: t.expose("nextRetryAt", { type: "DateTime", nullable: true }),
    lastError: t.exposeString("lastError", { nullable: true }),
    lastErrorCode: t.exposeString("lastErrorCode", { nullable: true }),
    notBefore: t.expose("notBefore", { type: "DateTime", nullable: true }),
    requiresApproval: t.exposeBoolean("requiresApproval"),
    approvalReason: t.exposeString("approvalReason", { nullable: true }),
    approvedAt: t.expose("approvedAt", { type: "DateTime", nullable: true }),
    approvedBy: t.exposeString("approvedBy", { nullable: true }),
    rejectedAt: t.expose("rejectedAt", { type: "DateTime", nullable: true }),
    rejectedBy: t.exposeString("rejectedBy", { nullable: true }),
    planningRunId: t.exposeID("planningRunId", { nullable: true }),
    exportRunId: t.exposeID("exportRunId", { nullable: true }),
    exportedAt: t.expose("exportedAt", { type: "DateTime", nullable: true }),
    confirmedAt: t.expose("confirmedAt", { type: "DateTime", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

interface PendingExportArgs {
  connectedSystemId?: string | number | null;
  status?: readonly Prisma.PendingExportWhereInput["status"][] | readonly string[] | null;
  changeType?: string | null;
  runId?: string | number | null;
  metaverseObjectId?: string | number | null;
}

/** Filters shared by the page and its totalCount; runId matches the planning or the export run. */
export function pendingExportWhere(args: PendingExportArgs): Prisma.PendingExportWhereInput {
  const where: Prisma.PendingExportWhereInput = {};
  if (args.connectedSystemId)
    where.connectedSystemId = decodeId("ConnectedSystem", String(args.connectedSystemId), "connectedSystemId");
  if (args.status?.length) where.status = { in: args.status as Prisma.EnumPendingExportStatusFilter["in"] };
  if (args.changeType) where.changeType = args.changeType as Prisma.PendingExportWhereInput["changeType"];
  if (args.metaverseObjectId)
    where.metaverseObjectId = decodeId("MetaverseObject", String(args.metaverseObjectId), "metaverseObjectId");
  if (args.runId) {
    const runId = decodeId("Run", String(args.runId), "runId");
    where.OR = [{ planningRunId: runId }, { exportRunId: runId }];
  }
  return where;
}

builder.queryFields((t) => ({
  pendingExports: t.prismaConnection(
    {
      type: "PendingExport",
      cursor: "id",
      authScopes: { reader: true },
      args: {
        connectedSystemId: t.arg.id({ description: "Only exports to this connected system." }),
        status: t.arg({ type: [PendingExportStatusEnum], description: "Only exports in one of these statuses." }),
        changeType: t.arg({ type: PendingExportChangeTypeEnum, description: "Only creates, updates or deletes." }),
        runId: t.arg.id({ description: "The run that planned or executed the export." }),
        metaverseObjectId: t.arg.id({ description: "Only exports of this metaverse object." }),
      },
      totalCount: (_parent, args, ctx) => ctx.services.db.prisma.pendingExport.count({ where: pendingExportWhere(args) }),
      resolve: (query, _parent, args, ctx) => {
        const page = keysetPage(query);
        return ctx.services.db.prisma.pendingExport.findMany({
          ...page.query,
          where: { ...pendingExportWhere(args), ...page.idFilter },
          orderBy: { id: "asc" },
        });
      },
    },
    { description: "Ordered by id; cursors stay valid across inserts and deletes." },
  ),
}));
