import { expandAttributeChanges } from "../engine/run-changes.ts";
import { builder } from "./builder.ts";
import { redactSealed } from "./redact.ts";

/** What a run did (or would do, when dry) to one object: the explainability record. */
export const RunChangeRef = builder.prismaObject("RunChange", {
  fields: (t) => ({
    id: t.id({ resolve: (c) => c.id.toString() }),
    changeType: t.exposeString("changeType"),
    anchor: t.exposeString("anchor", { nullable: true }),
    attributeChanges: t.field({
      type: "JSON",
      nullable: true,
      resolve: (c) => redactSealed(expandAttributeChanges(c.attributeChanges, c)),
    }),
    syncRuleId: t.exposeID("syncRuleId", { nullable: true }),
    sourceSystemId: t.exposeID("sourceSystemId", { nullable: true }),
    location: t.exposeString("location", { nullable: true }),
    errorCode: t.exposeString("errorCode", { nullable: true }),
    message: t.exposeString("message", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    connectorSpaceObjectId: t.exposeID("connectorSpaceObjectId", { nullable: true }),
    metaverseObjectId: t.exposeID("metaverseObjectId", { nullable: true }),
    pendingExportId: t.exposeID("pendingExportId", { nullable: true }),
  }),
});

export const RunEventRef = builder.prismaObject("RunEvent", {
  fields: (t) => ({
    id: t.id({ resolve: (e) => e.id.toString() }),
    type: t.exposeString("type"),
    data: t.expose("data", { type: "JSON" }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});
