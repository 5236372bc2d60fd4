import type { AttributeChange } from "../../connectors/connector.ts";
import { canonicalJson } from "../../util/canonical-json.ts";
import type { NewPlaceholder } from "../connector-space/store.ts";
import type { NewExport, OpenExport } from "../pending-export/planning.ts";
import type { RunChangeRow } from "../run-changes.ts";
import type { DesiredState, Identity } from "./desired.ts";
import { applyChanges, attributeChanges } from "./diff.ts";
import type { OutboundRule } from "./rules.ts";
import type { TargetObject } from "./store.ts";

type PlannedChange = AttributeChange & { status: string };

const OPEN = new Set(["AWAITING_APPROVAL", "PENDING", "FAILED"]);

/** What planning decided for a batch, written in bulk afterwards (store.ts). */
export interface PlanSink {
  inserts: NewExport[];
  revisions: { id: string; attributeChanges: unknown[] | null; status: string }[];
  placeholders: NewPlaceholder[];
  disconnects: string[];
  dropped: string[];
  failed: number;
  record: (row: RunChangeRow) => void;
  /** Ids of new exports (and of their placeholders), and the clock: passed in so decisions are testable. */
  newId: () => string;
  now: () => number;
}

export interface PlanInput {
  identity: Identity;
  rule: OutboundRule;
  /** The identity's object in the rule's system, when it has one. */
  cso: TargetObject | undefined;
  /** The object's exports not yet applied (or awaiting confirmation). */
  exportsOf: OpenExport[];
  /** Active and in the rule's scope. */
  live: boolean;
  /** Whether the identity has no attribute left (a leaver its deletion rule keeps). */
  empty: boolean;
  /** What the object should hold (computed when live; null when refused). */
  desired: DesiredState | null;
}

/**
 * The pure step of export planning for one identity under one rule: CREATE (with a provisioned
 * placeholder) when it is in scope and not in the system yet, UPDATE with only the
 * attribute-level differences (and a rename when the DN moved) when it is, folded into a CREATE
 * or UPDATE still waiting, and the rule's deprovision action when it left scope. No I/O.
 * One function on purpose: it is the planning decision table, and each branch reads top to
 * bottom against its unit test (test/unit/plan-decisions.test.ts).
 */
export function decide(sink: PlanSink, { identity, rule, cso, exportsOf, live, empty, desired }: PlanInput): void {
  const base = { mvoId: identity.id, syncRuleId: rule.id, sourceSystemId: rule.systemId };
  if (live && !cso) {
    if (!rule.provision) return;
    if (!desired || unplannable(sink, base, cso, desired, empty)) return;
    const id = sink.newId();
    const planned = withReferences(attributeChanges(desired.attributes, {}), desired).map((c) =>
      c.operation === "REPLACE" ? { ...c, operation: "ADD" as const } : c,
    );
    const status = rule.approveCreates ? "AWAITING_APPROVAL" : "PENDING";
    sink.inserts.push(
      newExport(
        id,
        rule,
        identity,
        "CREATE",
        status,
        planned,
        null,
        desired,
        rule.approveCreates ? "rule requires approval for creates" : null,
      ),
    );
    sink.placeholders.push({
      id,
      systemId: rule.systemId,
      objectType: rule.objectType,
      anchor: `pending:${id}`,
      dn: desired.dn,
      attributes: applyChanges(
        {},
        planned.filter((c) => c.status === "PENDING"),
      ),
      hash: "",
      mvoId: identity.id,
    });
    sink.record({
      ...base,
      changeType: "EXPORT_PLANNED",
      csoId: id,
      anchor: desired.dn,
      attributeChanges: { changeType: "CREATE", status, dn: desired.dn, changes: planned },
    });
  } else if (live && cso) {
    if (!desired || unplannable(sink, base, cso, desired, empty)) return;
    const pendingCreate = exportsOf.find((e) => e.changeType === "CREATE" && OPEN.has(e.status));
    const planned = withReferences(attributeChanges(desired.attributes, cso.attributes), desired);
    const rename = desired.dn && cso.dn && desired.dn.toLowerCase() !== cso.dn.toLowerCase() ? desired.dn : null;
    if (pendingCreate) {
      // Not exported yet: fold the change into the CREATE itself.
      if (!planned.length) return;
      const recomputed = withReferences(attributeChanges(desired.attributes, {}), desired).map((c) =>
        c.operation === "REPLACE" ? { ...c, operation: "ADD" as const } : c,
      );
      // Initial-only flows are not recomputed once the placeholder exists: the CREATE keeps the
      // values it was planned with (else the object would be created without its uid).
      const initialOnly = new Set(rule.flows.filter((f) => f.initialOnly).map((f) => f.target.toLowerCase()));
      const kept = pendingCreate.attributeChanges.filter(
        (c) =>
          initialOnly.has(c.attribute.toLowerCase()) &&
          !recomputed.some((r) => r.attribute.toLowerCase() === c.attribute.toLowerCase()),
      );
      const merged = [...kept, ...recomputed];
      if (unchanged(pendingCreate, merged)) return;
      sink.revisions.push({
        id: pendingCreate.id,
        attributeChanges: merged,
        status: pendingCreate.status === "FAILED" ? "PENDING" : pendingCreate.status,
      });
      sink.record({
        ...base,
        changeType: "EXPORT_SUPERSEDED",
        csoId: cso.id,
        pendingExportId: pendingCreate.id,
        attributeChanges: { changeType: "CREATE", changes: merged },
      });
      return;
    }
    const pendingUpdate = exportsOf.find((e) => e.changeType === "UPDATE" && OPEN.has(e.status));
    const detail = rename
      ? [...planned, { attribute: "dn", operation: "REPLACE" as const, values: [rename], status: "PENDING" }]
      : planned;
    if (pendingUpdate) {
      if (detail.length && unchanged(pendingUpdate, detail)) return;
      sink.revisions.push({
        id: pendingUpdate.id,
        attributeChanges: detail,
        status: detail.length ? (pendingUpdate.status === "FAILED" ? "PENDING" : pendingUpdate.status) : "CANCELLED",
      });
      sink.record({
        ...base,
        changeType: detail.length ? "EXPORT_SUPERSEDED" : "EXPORT_CANCELLED",
        csoId: cso.id,
        pendingExportId: pendingUpdate.id,
        attributeChanges: { changeType: "UPDATE", changes: detail },
      });
    } else if (detail.length) {
      // What an undo needs to put back: the values an attribute had before a REPLACE or REMOVE_ALL.
      // Values added or removed are undone by removing or adding them again, so a list changed
      // value by value keeps no copy (a department group's 100,000 members, per export).
      const before = Object.fromEntries(
        detail
          .filter((c) => c.operation === "REPLACE" || c.operation === "REMOVE_ALL")
          .map((c) => [c.attribute, c.attribute === "dn" ? cso.dn : (cso.attributes[c.attribute] ?? null)]),
      );
      sink.inserts.push(newExport(sink.newId(), rule, identity, "UPDATE", "PENDING", detail, before, desired, null, cso.id));
      sink.record({
        ...base,
        changeType: "EXPORT_PLANNED",
        csoId: cso.id,
        anchor: cso.anchor,
        attributeChanges: { changeType: "UPDATE", changes: detail },
      });
    }
  } else if (!live && cso) {
    deprovision(rule, identity, cso, exportsOf, sink);
  }
}

/**
 * An open export planned again to the very same changes (an identity planned twice in one run, or
 * again by a later run before export) is left as it is: rewriting it would only add a revision and
 * an EXPORT_SUPERSEDED change saying nothing. A FAILED one is still revised, back to PENDING.
 */
function unchanged(open: OpenExport, changes: OpenExport["attributeChanges"]): boolean {
  return open.status !== "FAILED" && canonicalJson(open.attributeChanges) === canonicalJson(changes);
}

function withReferences(changes: AttributeChange[], desired: DesiredState): PlannedChange[] {
  const planned: PlannedChange[] = changes.map((c) => ({ ...c, status: "PENDING" }));
  for (const [attribute, ids] of Object.entries(desired.awaiting))
    planned.push({ attribute, operation: "ADD", values: ids, status: "AWAITING_REFERENCE" });
  return planned;
}

/** Located errors of planning: the object (or one attribute of it) is left as it is. Returns true when the whole object is. */
function unplannable(
  sink: PlanSink,
  base: Omit<RunChangeRow, "changeType">,
  cso: TargetObject | undefined,
  desired: DesiredState,
  empty: boolean,
): boolean {
  const located = { ...base, changeType: "RECORD_ERROR", csoId: cso?.id ?? null, anchor: cso?.dn ?? cso?.anchor ?? null };
  for (const t of desired.tooMany) {
    sink.failed++;
    sink.record({
      ...located,
      errorCode: "MULTIPLE_VALUES",
      attributeChanges: { attribute: t.attribute, values: t.values },
      message: `${t.values.length} values for the single-valued attribute "${t.attribute}": the attribute is left as it is`,
    });
  }
  const missing = [...desired.blocked, ...desired.missing];
  if (missing.length || empty) {
    const first = missing[0] ?? { flow: null, inputs: [] };
    sink.record({
      ...located,
      errorCode: "MISSING_INPUT",
      attributeChanges: { flow: first.flow, inputs: first.inputs, flows: missing },
      message: empty
        ? "no source contributes to this identity any more (it stays in the metaverse under the deletion rule MANUAL, or until its grace period ends): the target object is left as it is"
        : desired.blocked.length
          ? `the ${desired.blocked.map((b) => b.flow).join(", ")} flow lacks ${first.inputs.join(", ")}: the target object is left as it is`
          : `flows built from missing inputs are left as they are: ${desired.missing.map((m) => `${m.flow} (${m.inputs.join(", ")})`).join("; ")}`,
    });
  }
  return desired.blocked.length > 0 || empty;
}

function newExport(
  id: string,
  rule: OutboundRule,
  identity: Identity,
  changeType: NewExport["changeType"],
  status: NewExport["status"],
  planned: PlannedChange[],
  before: unknown,
  desired: DesiredState | null,
  approvalReason: string | null,
  csoId = id,
  notBefore: Date | null = null,
): NewExport {
  return {
    id,
    systemId: rule.systemId,
    csoId,
    mvoId: identity.id,
    ruleId: rule.id,
    changeType,
    status,
    attributeChanges: planned,
    beforeValues: before,
    requiresApproval: status === "AWAITING_APPROVAL",
    approvalReason,
    awaitingReference: Boolean(desired && Object.keys(desired.awaiting).length),
    notBefore,
  };
}

/** An identity left the rule's scope (or the metaverse): apply the rule's deprovision action. */
function deprovision(rule: OutboundRule, identity: Identity, cso: TargetObject, exportsOf: OpenExport[], sink: PlanSink) {
  const base = { mvoId: identity.id, syncRuleId: rule.id, sourceSystemId: rule.systemId, csoId: cso.id, anchor: cso.anchor };
  const cancelOpen = (types: string[]) => {
    for (const e of exportsOf)
      if (types.includes(e.changeType) && OPEN.has(e.status))
        sink.revisions.push({ id: e.id, attributeChanges: null, status: "CANCELLED" });
  };
  if (cso.joinType !== "PROVISIONED" || rule.deprovision === "DISCONNECT") {
    cancelOpen(["UPDATE"]);
    sink.disconnects.push(cso.id);
    sink.record({
      ...base,
      changeType: "DISCONNECTED",
      message: cso.joinType === "PROVISIONED" ? "deprovision: DISCONNECT" : "joined object: disconnected, not deleted",
    });
    return;
  }
  if (cso.status === "PENDING_PROVISIONING") {
    // Created and deleted before any export: nothing to tell the target.
    cancelOpen(["CREATE", "UPDATE"]);
    sink.dropped.push(cso.id);
    sink.record({ ...base, changeType: "EXPORT_CANCELLED", message: "create and delete cancel out" });
    return;
  }
  if (exportsOf.some((e) => e.changeType === "DELETE")) return;
  cancelOpen(["UPDATE"]);
  const approval = rule.approveDeletes ? "rule requires approval for deletes" : null;
  const status = rule.approveDeletes ? "AWAITING_APPROVAL" : "PENDING";
  const before = { dn: cso.dn, attributes: cso.attributes };
  if (rule.deprovision === "DISABLE_THEN_DELETE" && rule.disableFlow) {
    const disable: PlannedChange[] = [
      { attribute: rule.disableFlow.attribute, operation: "REPLACE", values: [rule.disableFlow.value], status: "PENDING" },
    ];
    sink.inserts.push(
      newExport(
        sink.newId(),
        rule,
        identity,
        "UPDATE",
        "PENDING",
        disable,
        { [rule.disableFlow.attribute]: cso.attributes[rule.disableFlow.attribute] ?? null },
        null,
        null,
        cso.id,
      ),
    );
    const due = new Date(sink.now() + rule.graceSeconds * 1000);
    sink.inserts.push(newExport(sink.newId(), rule, identity, "DELETE", status, [], before, null, approval, cso.id, due));
    sink.record({
      ...base,
      changeType: "EXPORT_PLANNED",
      attributeChanges: { changeType: "DISABLE_THEN_DELETE", disable, deleteAfter: due.toISOString() },
    });
    return;
  }
  sink.inserts.push(newExport(sink.newId(), rule, identity, "DELETE", status, [], before, null, approval, cso.id));
  sink.record({ ...base, changeType: "EXPORT_PLANNED", attributeChanges: { changeType: "DELETE", status } });
}
