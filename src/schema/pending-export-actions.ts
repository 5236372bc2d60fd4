import { encodeGlobalID } from "@pothos/plugin-relay";
import { Repeater } from "@repeaterjs/repeater";
import type { PendingExport } from "../generated/prisma/client.ts";
import {
  type ExportFilter,
  PENDING_EXPORTS_TOPIC,
  type PendingExportEvent,
  type RejectOutcome,
} from "../systems/pending-exports.ts";
import type { Context } from "./builder.ts";
import { builder } from "./builder.ts";
import { PendingExportChangeTypeEnum, PendingExportStatusEnum } from "./enums.ts";
import { decodeId } from "./global-id.ts";
import { PendingExportRef } from "./pending-export.ts";

const RejectOutcomeRef = builder.objectRef<RejectOutcome>("PendingExportRejectOutcome").implement({
  description: "What a rejection did to one export.",
  fields: (t) => ({
    id: t.id({ resolve: (r) => encodeGlobalID("PendingExport", r.id) }),
    outcome: t.exposeString("outcome", { description: "REJECTED, or UNCHANGED (see code)" }),
    code: t.exposeString("code", {
      nullable: true,
      description: "Why unchanged: CONFLICT (its status allows no rejection) or NOT_FOUND",
    }),
    status: t.field({
      type: PendingExportStatusEnum,
      nullable: true,
      description: "The export's status after the call",
      resolve: (r) => r.status as never,
    }),
  }),
});

const RejectResultRef = builder
  .objectRef<{ rejected: number; results: RejectOutcome[] }>("RejectPendingExportsResult")
  .implement({
    fields: (t) => ({
      rejected: t.exposeInt("rejected", { description: "How many were rejected (what rejectPendingExports returns)" }),
      results: t.field({ type: [RejectOutcomeRef], resolve: (r) => r.results }),
    }),
  });

/** Who approved/rejected: the API key id, or "loopback" in the keyless development mode. */
const actor = (ctx: Context) => (ctx.apiKeyId ? `apikey:${ctx.apiKeyId}` : "loopback");

const ExportFilterInput = builder.inputType("PendingExportFilter", {
  description: "Narrows ids or runId: release or reject a part of a hold (e.g. its creates, or its department changes).",
  fields: (t) => ({
    connectedSystemId: t.id({ description: "Only exports to this connected system." }),
    changeType: t.field({ type: PendingExportChangeTypeEnum, description: "Only exports of this change type." }),
    attribute: t.string({ description: "Only exports changing this attribute (the system's own name)." }),
    status: t.field({
      type: PendingExportStatusEnum,
      description: "Only exports in this status (e.g. reject only the AWAITING_APPROVAL ones of a held run).",
    }),
  }),
});

const decodeFilter = (filter: typeof ExportFilterInput.$inferInput | null | undefined): ExportFilter | null =>
  filter
    ? {
        connectedSystemId: filter.connectedSystemId
          ? decodeId("ConnectedSystem", String(filter.connectedSystemId), "filter.connectedSystemId")
          : null,
        changeType: filter.changeType ?? null,
        attribute: filter.attribute ?? null,
        status: filter.status ?? undefined,
      }
    : null;

const decodeIds = (ids: readonly (string | number)[] | null | undefined) =>
  ids ? ids.map((id) => decodeId("PendingExport", String(id), "ids")) : null;

builder.mutationFields((t) => ({
  retryPendingExports: t.prismaField({
    type: ["PendingExport"],
    authScopes: { operator: true },
    description: "FAILED/ERROR exports back to PENDING with errorCount 0; returns every export asked for, in its current state.",
    args: { ids: t.arg.idList({ required: true, description: "Global IDs of the pending exports to retry." }) },
    resolve: async (query, _root, args, ctx) => {
      const ids = decodeIds(args.ids) ?? [];
      const retried = await ctx.services.pendingExports.retry(ids);
      ctx.services.logger.info({ by: actor(ctx), asked: ids.length, retried: retried.length }, "pending exports retried");
      return ctx.services.db.prisma.pendingExport.findMany({ ...query, where: { id: { in: ids } }, orderBy: { id: "asc" } });
    },
  }),
  approvePendingExports: t.int({
    authScopes: { operator: true },
    description: "AWAITING_APPROVAL -> PENDING for the ids and/or the run's exports; returns how many were approved.",
    args: {
      ids: t.arg.idList({ description: "Global IDs of the pending exports (or give runId)." }),
      runId: t.arg.id({ description: "Every pending export of this run (or give ids)." }),
      filter: t.arg({ type: ExportFilterInput, description: "Only the selected exports that match this." }),
    },
    resolve: async (_root, args, ctx) => {
      const runId = args.runId ? decodeId("Run", String(args.runId), "runId") : null;
      const approved = await ctx.services.pendingExports.approve(
        { ids: decodeIds(args.ids), runId, filter: decodeFilter(args.filter) },
        actor(ctx),
      );
      ctx.services.logger.info({ by: actor(ctx), runId, approved }, "pending exports approved");
      return approved;
    },
  }),
  undoExportRun: t.int({
    authScopes: { operator: true },
    description:
      "Plan the inverse of every change a finished export run applied (from the recorded before-values), held AWAITING_APPROVAL; returns how many exports were planned.",
    args: { runId: t.arg.id({ required: true, description: "Global ID of the export run to undo." }) },
    resolve: async (_root, args, ctx) => {
      return ctx.services.pendingExports.undoRun(decodeId("Run", String(args.runId), "runId"));
    },
  }),
  rejectPendingExports: t.int({
    authScopes: { operator: true },
    description:
      "Exports not applied yet (AWAITING_APPROVAL, PENDING, FAILED, ERROR) -> REJECTED; returns how many were rejected (rejectPendingExportsDetailed says per id).",
    args: {
      ids: t.arg.idList({ description: "Global IDs of the pending exports (or give runId)." }),
      runId: t.arg.id({ description: "Every pending export of this run (or give ids)." }),
      filter: t.arg({ type: ExportFilterInput, description: "Only the selected exports that match this." }),
    },
    resolve: async (_root, args, ctx) => {
      const runId = args.runId ? decodeId("Run", String(args.runId), "runId") : null;
      const rejected = await ctx.services.pendingExports.reject(
        { ids: decodeIds(args.ids), runId, filter: decodeFilter(args.filter) },
        actor(ctx),
      );
      ctx.services.logger.info({ by: actor(ctx), runId, rejected }, "pending exports rejected");
      return rejected;
    },
  }),
  rejectPendingExportsDetailed: t.field({
    type: RejectResultRef,
    authScopes: { operator: true },
    description: "As rejectPendingExports, with what happened to each id asked for (and each export a run selection rejected).",
    args: {
      ids: t.arg.idList({ description: "Global IDs of the pending exports (or give runId)." }),
      runId: t.arg.id({ description: "Every pending export of this run (or give ids)." }),
      filter: t.arg({ type: ExportFilterInput, description: "Only the selected exports that match this." }),
    },
    resolve: async (_root, args, ctx) => {
      const runId = args.runId ? decodeId("Run", String(args.runId), "runId") : null;
      const result = await ctx.services.pendingExports.rejectWithOutcomes(
        { ids: decodeIds(args.ids), runId, filter: decodeFilter(args.filter) },
        actor(ctx),
      );
      ctx.services.logger.info({ by: actor(ctx), runId, rejected: result.rejected }, "pending exports rejected");
      return result;
    },
  }),
}));

builder.subscriptionField("pendingExportChanged", (t) =>
  t.field({
    type: PendingExportRef,
    authScopes: { reader: true },
    description:
      "Each pending export whose state changes (planned, approved, retried, exported...), optionally of one system or run.",
    args: {
      connectedSystemId: t.arg.id({ description: "Only exports to this connected system." }),
      runId: t.arg.id({ description: "Only exports of this run." }),
    },
    subscribe: (_root, args, ctx) => {
      const systemId = args.connectedSystemId
        ? decodeId("ConnectedSystem", String(args.connectedSystemId), "connectedSystemId")
        : null;
      const runId = args.runId ? decodeId("Run", String(args.runId), "runId") : null;
      const events = ctx.services.bus.subscribe(PENDING_EXPORTS_TOPIC) as AsyncIterableIterator<PendingExportEvent>;
      return loadMatching(events, ctx, systemId, runId);
    },
    resolve: (pendingExport) => pendingExport,
  }),
);

/**
 * The bus carries ids only: load each matching export; one deleted meanwhile is skipped.
 * A Repeater rather than an async generator: its return() ends the subscription at once,
 * even while no event is arriving (a generator's would wait for the next event).
 */
function loadMatching(
  events: AsyncIterableIterator<PendingExportEvent>,
  ctx: Context,
  systemId: string | null,
  runId: string | null,
) {
  return new Repeater<PendingExport>(async (push, stop) => {
    void stop.then(() => events.return?.());
    for await (const e of events) {
      if (systemId && e.connectedSystemId !== systemId) continue;
      if (runId && e.runId !== runId && e.exportRunId !== runId) continue;
      // The engine sends a batch's ids in one message; the API one id per message.
      const rows = await ctx.services.db.prisma.pendingExport.findMany({
        where: { id: { in: e.ids ?? [e.id] } },
        orderBy: { id: "asc" },
      });
      for (const row of rows) await push(row);
    }
    stop();
  });
}
