import type { ProvisioningDecision } from "../engine/outbound/explain.ts";
import { explainMetaverseObject, type MetaverseObjectExplanation, type ValueProvenance } from "../systems/metaverse-explain.ts";
import { builder } from "./builder.ts";
import { redactSealed } from "./redact.ts";

const ValueProvenanceRef = builder.objectRef<ValueProvenance>("ValueProvenance").implement({
  description: "Who set one metaverse attribute's current value.",
  fields: (t) => ({
    attribute: t.exposeString("attribute"),
    value: t.expose("value", { type: "JSON", nullable: true }),
    systemId: t.exposeID("systemId", { nullable: true, description: "The contributing connected system (raw id)." }),
    systemName: t.exposeString("systemName", { nullable: true }),
    ruleId: t.exposeID("ruleId", { nullable: true, description: "The inbound sync rule whose flow wrote it (raw id)." }),
    ruleName: t.exposeString("ruleName", { nullable: true }),
    runId: t.exposeID("runId", { nullable: true, description: "The sync run that wrote it (raw id)." }),
    runProfile: t.exposeString("runProfile", { nullable: true }),
    runFinishedAt: t.expose("runFinishedAt", { type: "DateTime", nullable: true }),
    precedence: t.exposeInt("precedence", { nullable: true, description: "The rule's precedence: lower wins." }),
    reason: t.exposeString("reason", { description: "One sentence for humans." }),
  }),
});

const OpenExportRef = builder.objectRef<ProvisioningDecision["openExports"][number]>("ProvisioningOpenExport").implement({
  description: "An export of the identity's object not applied yet.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "Pending export (raw id)." }),
    changeType: t.exposeString("changeType"),
    status: t.exposeString("status"),
    reason: t.exposeString("reason", { nullable: true, description: "Approval reason or last error." }),
  }),
});

const ProvisioningDecisionRef = builder.objectRef<ProvisioningDecision>("ProvisioningDecision").implement({
  description: "Where an identity stands with one outbound rule: in scope or not, provisioned or not, and why.",
  fields: (t) => ({
    ruleId: t.exposeID("ruleId", { description: "The outbound sync rule (raw id)." }),
    ruleName: t.exposeString("ruleName"),
    systemId: t.exposeID("systemId", { description: "The rule's target system (raw id)." }),
    systemName: t.exposeString("systemName"),
    enabled: t.exposeBoolean("enabled"),
    inScope: t.exposeBoolean("inScope", {
      description: "The rule applies to the identity now: enabled, same metaverse type, identity active, scope true.",
    }),
    state: t.exposeString("state", {
      description:
        "DISABLED, OTHER_TYPE, IDENTITY_INACTIVE, OUT_OF_SCOPE, SCOPE_ERROR, PROVISIONED, JOINED, CREATE_PENDING, NOT_PROVISIONING, NOT_PLANNED or LEFT_SCOPE.",
    }),
    reason: t.exposeString("reason", { description: "Why, in sentences: the scope's verdict and what follows from it." }),
    connectorSpaceObjectId: t.exposeID("connectorSpaceObjectId", { nullable: true }),
    openExports: t.field({ type: [OpenExportRef], resolve: (d) => d.openExports }),
  }),
});

const ExplanationRef = builder.objectRef<MetaverseObjectExplanation>("MetaverseObjectExplanation").implement({
  description: "Why an identity holds each value and why it is (not) in each target.",
  fields: (t) => ({
    values: t.field({ type: [ValueProvenanceRef], resolve: (e) => e.values }),
    provisioning: t.field({ type: [ProvisioningDecisionRef], resolve: (e) => e.provisioning }),
  }),
});

builder.prismaObjectField("MetaverseObject", "explain", (t) =>
  t.field({
    type: ExplanationRef,
    description:
      "Each value with the system, rule and run that set it, and each outbound rule's decision (scope evaluated now, as export planning does).",
    select: { id: true, type: true, status: true, attributes: true, contributions: true },
    resolve: (mvo, _args, ctx) =>
      explainMetaverseObject(
        { prisma: ctx.services.db.prisma, pool: ctx.services.db.pool },
        mvo,
        redactSealed(mvo.attributes) as Record<string, unknown>,
      ),
  }),
);
