import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { AttributeChange, Attributes, AttributeValue } from "../../connectors/connector.ts";
import { contentHash } from "../../connectors/content-hash.ts";
import { insertPlaceholders, type NewPlaceholder } from "../connector-space/store.ts";
import { appliedByRun, insertExports, type NewExport } from "../pending-export/planning.ts";

type Q = Pick<pg.PoolClient, "query">;

const asValues = (v: unknown): AttributeValue[] =>
  v === null || v === undefined ? [] : Array.isArray(v) ? v : [v as AttributeValue];

/**
 * The change that undoes `change`: values added are removed, and values removed are added again;
 * anything else puts the attribute back to its recorded before-value. (An export planned before
 * lists kept no before-value recorded the whole list: that list is put back, as it was then.)
 */
function inverse(change: AttributeChange, before: Record<string, unknown>): AttributeChange & { status: string } {
  const { attribute } = change;
  if (!Object.hasOwn(before, attribute) && (change.operation === "ADD" || change.operation === "REMOVE"))
    return { attribute, operation: change.operation === "ADD" ? "REMOVE" : "ADD", values: change.values, status: "PENDING" };
  const values = asValues(before[attribute]);
  return values.length
    ? { attribute, operation: "REPLACE", values, status: "PENDING" }
    : { attribute, operation: "REMOVE_ALL", values: [], status: "PENDING" };
}

/**
 * Undo an export run: plan the inverse of every change it applied, from the before-values
 * recorded when each export was planned - an UPDATE puts the old values (and DN) back, or removes
 * the values it added and adds back those it removed, a CREATE becomes a DELETE, a DELETE becomes
 * a CREATE of the recorded object. Nothing is applied until someone approves: every inverse export
 * waits in AWAITING_APPROVAL. Returns how many were planned.
 * Run it in one transaction: it reads the run's exports and writes their inverses.
 */
export async function planUndo(tx: Q, exportRunId: string): Promise<number> {
  const rows = await appliedByRun(tx, exportRunId);
  const exports: NewExport[] = [];
  const placeholders: NewPlaceholder[] = [];
  const reason = `undo of export run ${exportRunId}`;
  for (const r of rows) {
    const base = {
      systemId: r.connected_system_id,
      mvoId: r.metaverse_object_id,
      ruleId: r.sync_rule_id,
      status: "AWAITING_APPROVAL" as const,
      requiresApproval: true,
      approvalReason: reason,
      awaitingReference: false,
      notBefore: null,
      undoOfRunId: exportRunId,
      beforeValues: null,
    };
    if (r.change_type === "UPDATE") {
      const before = (r.before_values ?? {}) as Record<string, unknown>;
      const changes = (r.attribute_changes as AttributeChange[]).map((c) => inverse(c, before));
      if (changes.length)
        exports.push({
          ...base,
          id: randomUUID(),
          csoId: r.connector_space_object_id,
          changeType: "UPDATE",
          attributeChanges: changes,
        });
    } else if (r.change_type === "CREATE" && r.connector_space_object_id) {
      exports.push({ ...base, id: randomUUID(), csoId: r.connector_space_object_id, changeType: "DELETE", attributeChanges: [] });
    } else if (r.change_type === "DELETE") {
      const before = (r.before_values ?? {}) as { dn?: string | null; attributes?: Attributes };
      const attributes = before.attributes ?? {};
      const id = randomUUID();
      placeholders.push({
        id,
        systemId: r.connected_system_id,
        objectType: r.object_type ?? "person",
        anchor: `pending:${id}`,
        dn: before.dn ?? null,
        attributes,
        hash: contentHash(attributes),
        mvoId: r.metaverse_object_id,
      });
      exports.push({
        ...base,
        id,
        csoId: id,
        changeType: "CREATE",
        attributeChanges: Object.entries(attributes).map(([attribute, v]) => ({
          attribute,
          operation: "ADD",
          values: asValues(v),
          status: "PENDING",
        })),
      });
    }
  }
  // The deleted object's own row may be gone from connector space: recreate it as a placeholder.
  await insertPlaceholders(
    tx,
    placeholders.filter((p) => p.mvoId),
  );
  await insertExports(
    tx,
    null,
    exports.filter((e) => e.changeType !== "CREATE" || e.mvoId),
  );
  return exports.filter((e) => e.changeType !== "CREATE" || e.mvoId).length;
}
