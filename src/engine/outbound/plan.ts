import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { AttributeChange } from "../../connectors/connector.ts";
import { contentHash } from "../hash.ts";
import type { RunChangeRow } from "../run-changes.ts";
import type { RunContext } from "../run-context.ts";
import { type DesiredState, desiredState, type Identity, newPlanningBatch } from "./desired.ts";
import { applyChanges, attributeChanges } from "./diff.ts";
import { DnFlowError } from "./dn-flow.ts";
import { isMissing } from "./inputs.ts";
import { notifyExportChanges } from "./notify.ts";
import type { OutboundRule } from "./rules.ts";
import {
  deletePlaceholders,
  disconnectObjects,
  holdDeletesOverThreshold,
  insertExports,
  insertPlaceholders,
  loadOpenExports,
  loadTargets,
  type NewExport,
  type OpenExport,
  reviseExports,
  type TargetObject,
} from "./store.ts";

export interface PlanScope {
  runId: string;
  dryRun: boolean;
  /** Tells subscribers about planned and revised exports (the run context's publish). */
  publish?: RunContext["publish"];
  rules: OutboundRule[];
  /** Delete threshold per target system (connected_system.delete_threshold). */
  deleteThresholds: Map<string, number | null>;
}

type PlannedChange = AttributeChange & { status: string };

const OPEN = new Set(["AWAITING_APPROVAL", "PENDING", "FAILED"]);

function withReferences(changes: AttributeChange[], desired: DesiredState): PlannedChange[] {
  const planned: PlannedChange[] = changes.map((c) => ({ ...c, status: "PENDING" }));
  for (const [attribute, ids] of Object.entries(desired.awaiting))
    planned.push({ attribute, operation: "ADD", values: ids, status: "AWAITING_REFERENCE" });
  return planned;
}

/**
 * Export planning for identities a sync changed: per outbound rule, CREATE (with a provisioned
 * placeholder) for in-scope identities not yet in the system, UPDATE with only the attribute-level
 * differences (and a rename when the computed DN moved) for joined ones, and the rule's
 * deprovision action for identities that left scope or were deleted. Newer plans supersede
 * still-pending exports; a CREATE never exported and then deprovisioned cancels out.
 */
export async function planExports(tx: pg.PoolClient, scope: PlanScope, identities: Identity[]) {
  const changes: RunChangeRow[] = [];
  const inserts: NewExport[] = [];
  const revisions: { id: string; attributeChanges: unknown[] | null; status: string }[] = [];
  const placeholders: Parameters<typeof insertPlaceholders>[1] = [];
  const disconnects: string[] = [];
  const dropped: string[] = [];
  const batch = newPlanningBatch();
  let failed = 0;
  if (!scope.rules.length || !identities.length) return { changes, exportsQueued: 0, failed };

  const targets = await loadTargets(
    tx,
    identities.map((i) => i.id),
    [...new Set(scope.rules.map((r) => r.systemId))],
  );
  const open = await loadOpenExports(
    tx,
    targets.map((t) => t.id),
  );
  const record = (row: RunChangeRow) => changes.push(row);
  // A refused DN fails this identity under this rule only: recorded, and planning goes on.
  const desiredOrRefused = async (rule: OutboundRule, identity: Identity, options: Parameters<typeof desiredState>[3]) => {
    try {
      return await desiredState(tx, rule, identity, options);
    } catch (e) {
      if (!(e instanceof DnFlowError)) throw e;
      failed++;
      const { code: errorCode, location, message } = e;
      record({
        changeType: "RECORD_ERROR",
        mvoId: identity.id,
        syncRuleId: rule.id,
        sourceSystemId: rule.systemId,
        location,
        errorCode,
        message,
      });
      return null;
    }
  };
  // One lookup per identity and rule (a search of every target per pair was quadratic in the batch).
  const targetOf = new Map(targets.map((t) => [targetKey(t.mvoId, t.systemId, t.objectType), t]));
  /** Located errors of planning: the object (or one attribute of it) is left as it is. */
  const unplannable = (
    base: Omit<RunChangeRow, "changeType">,
    cso: TargetObject | undefined,
    desired: DesiredState,
    empty: boolean,
  ) => {
    const located = { ...base, changeType: "RECORD_ERROR", csoId: cso?.id ?? null, anchor: cso?.dn ?? cso?.anchor ?? null };
    for (const t of desired.tooMany) {
      failed++;
      record({
        ...located,
        errorCode: "MULTIPLE_VALUES",
        attributeChanges: { attribute: t.attribute, values: t.values },
        message: `${t.values.length} values for the single-valued attribute "${t.attribute}": the attribute is left as it is`,
      });
    }
    const missing = [...desired.blocked, ...desired.missing];
    if (missing.length) {
      const first = missing[0]!;
      record({
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
  };

  for (const identity of identities) {
    // A leaver the deletion rule keeps has no attributes left: nothing to compute a target from.
    const empty = identity.status === "ACTIVE" && Object.values(identity.attributes).every(isMissing);
    for (const rule of scope.rules) {
      if (rule.metaverseType !== identity.type) continue;
      const cso = targetOf.get(targetKey(identity.id, rule.systemId, rule.objectType));
      const exportsOf = cso ? (open.get(cso.id) ?? []) : [];
      const base = { mvoId: identity.id, syncRuleId: rule.id, sourceSystemId: rule.systemId };
      const live = identity.status === "ACTIVE" && (await rule.inScope(identity.attributes as never));

      if (live && !cso) {
        if (!rule.provision) continue;
        const desired = await desiredOrRefused(rule, identity, { creating: true, current: null, batch });
        if (!desired || unplannable(base, cso, desired, empty)) continue;
        const id = randomUUID();
        const planned = withReferences(attributeChanges(desired.attributes, {}), desired).map((c) =>
          c.operation === "REPLACE" ? { ...c, operation: "ADD" as const } : c,
        );
        const status = rule.approveCreates ? "AWAITING_APPROVAL" : "PENDING";
        inserts.push(
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
        placeholders.push({
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
        record({
          ...base,
          changeType: "EXPORT_PLANNED",
          csoId: id,
          anchor: desired.dn,
          attributeChanges: { changeType: "CREATE", status, dn: desired.dn, changes: planned },
        });
      } else if (live && cso) {
        const desired = await desiredOrRefused(rule, identity, {
          creating: false,
          current: { ...cso.attributes, dn: cso.dn },
          batch,
        });
        if (!desired || unplannable(base, cso, desired, empty)) continue;
        const pendingCreate = exportsOf.find((e) => e.changeType === "CREATE" && OPEN.has(e.status));
        const planned = withReferences(attributeChanges(desired.attributes, cso.attributes), desired);
        const rename = desired.dn && cso.dn && desired.dn.toLowerCase() !== cso.dn.toLowerCase() ? desired.dn : null;
        if (pendingCreate) {
          // Not exported yet: fold the change into the CREATE itself.
          if (!planned.length) continue;
          const merged = withReferences(attributeChanges(desired.attributes, {}), desired).map((c) =>
            c.operation === "REPLACE" ? { ...c, operation: "ADD" as const } : c,
          );
          revisions.push({
            id: pendingCreate.id,
            attributeChanges: merged,
            status: pendingCreate.status === "FAILED" ? "PENDING" : pendingCreate.status,
          });
          record({
            ...base,
            changeType: "EXPORT_SUPERSEDED",
            csoId: cso.id,
            pendingExportId: pendingCreate.id,
            attributeChanges: { changeType: "CREATE", changes: merged },
          });
          continue;
        }
        const pendingUpdate = exportsOf.find((e) => e.changeType === "UPDATE" && OPEN.has(e.status));
        const detail = rename
          ? [...planned, { attribute: "dn", operation: "REPLACE" as const, values: [rename], status: "PENDING" }]
          : planned;
        if (pendingUpdate) {
          revisions.push({
            id: pendingUpdate.id,
            attributeChanges: detail,
            status: detail.length ? (pendingUpdate.status === "FAILED" ? "PENDING" : pendingUpdate.status) : "CANCELLED",
          });
          record({
            ...base,
            changeType: detail.length ? "EXPORT_SUPERSEDED" : "EXPORT_CANCELLED",
            csoId: cso.id,
            pendingExportId: pendingUpdate.id,
            attributeChanges: { changeType: "UPDATE", changes: detail },
          });
        } else if (detail.length) {
          const before = Object.fromEntries(
            detail.map((c) => [c.attribute, c.attribute === "dn" ? cso.dn : (cso.attributes[c.attribute] ?? null)]),
          );
          inserts.push(newExport(randomUUID(), rule, identity, "UPDATE", "PENDING", detail, before, desired, null, cso.id));
          record({
            ...base,
            changeType: "EXPORT_PLANNED",
            csoId: cso.id,
            anchor: cso.anchor,
            attributeChanges: { changeType: "UPDATE", changes: detail },
          });
        }
      } else if (!live && cso) {
        deprovision(rule, identity, cso, exportsOf, { inserts, revisions, disconnects, dropped, record });
      }
    }
  }

  if (!scope.dryRun) {
    await insertPlaceholders(
      tx,
      placeholders.map((p) => ({ ...p, hash: contentHash(p.attributes) })),
    );
    await insertExports(tx, scope.runId, inserts);
    await reviseExports(tx, revisions);
    await disconnectObjects(tx, disconnects);
    await deletePlaceholders(tx, dropped);
    const revisedSystems = revisions.length
      ? (
          await tx.query<{ id: string; connected_system_id: string }>(
            "SELECT id, connected_system_id FROM pending_export WHERE id = ANY($1::uuid[])",
            [revisions.map((r) => r.id)],
          )
        ).rows
      : [];
    await notifyExportChanges(
      scope.publish,
      tx,
      [
        ...inserts.map((e) => ({ id: e.id, systemId: e.systemId, runId: scope.runId })),
        ...revisedSystems.map((r) => ({ id: r.id, systemId: r.connected_system_id, runId: scope.runId })),
      ],
      null,
    );
    for (const systemId of new Set(inserts.filter((e) => e.changeType === "DELETE").map((e) => e.systemId))) {
      const threshold = scope.deleteThresholds.get(systemId);
      if (threshold !== null && threshold !== undefined) await holdDeletesOverThreshold(tx, scope.runId, systemId, threshold);
    }
  }
  return { changes, exportsQueued: inserts.length, failed };
}

const targetKey = (mvoId: string, systemId: string, objectType: string) => `${mvoId}\u0000${systemId}\u0000${objectType}`;

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

interface Sink {
  inserts: NewExport[];
  revisions: { id: string; attributeChanges: unknown[] | null; status: string }[];
  disconnects: string[];
  dropped: string[];
  record: (row: RunChangeRow) => void;
}

/** An identity left the rule's scope (or the metaverse): apply the rule's deprovision action. */
function deprovision(rule: OutboundRule, identity: Identity, cso: TargetObject, exportsOf: OpenExport[], sink: Sink) {
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
        randomUUID(),
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
    const due = new Date(Date.now() + rule.graceSeconds * 1000);
    sink.inserts.push(newExport(randomUUID(), rule, identity, "DELETE", status, [], before, null, approval, cso.id, due));
    sink.record({
      ...base,
      changeType: "EXPORT_PLANNED",
      attributeChanges: { changeType: "DISABLE_THEN_DELETE", disable, deleteAfter: due.toISOString() },
    });
    return;
  }
  sink.inserts.push(newExport(randomUUID(), rule, identity, "DELETE", status, [], before, null, approval, cso.id));
  sink.record({ ...base, changeType: "EXPORT_PLANNED", attributeChanges: { changeType: "DELETE", status } });
}
