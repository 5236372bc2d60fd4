// What an export run stores once the target has answered a batch: each export EXPORTED, FAILED
// with its retry time, or ERROR; the objects' new state; the run's changes and notifications.
import type pg from "pg";
import type { AttributeChange, Attributes, ExportChange, ExportResult } from "../../connectors/connector.ts";
import { contentHash } from "../../connectors/content-hash.ts";
import { isSealedValue } from "../../secrets.ts";
import { backoffDelay } from "../../util/backoff.ts";
import { anchorHolders, deleteObjects, updateExported } from "../connector-space/store.ts";
import { distrustStored } from "../import/schema-trust.ts";
import type { ImportSchema } from "../import/validate.ts";
import {
  closeSupersededFailures,
  type ExportFailure,
  markExported,
  queueReferenceFollowUps,
  type ReadyExport,
  recordFailures,
} from "../pending-export/execution.ts";
import { insertRunChanges, type RunChangeRow } from "../run-changes.ts";
import type { RunContext } from "../run-context.ts";
import { applyChanges, inImportShape } from "./diff.ts";
import { notifyExportChanges } from "./notify.ts";

/** A planned attribute change, with its planning status (AWAITING_REFERENCE...). */
export type Planned = AttributeChange & { status?: string };

/** Store one answered batch: set-based statements per outcome. Long: one branch per outcome. */
export async function applyResults(
  tx: pg.PoolClient,
  ctx: RunContext,
  claimed: ReadyExport[],
  changes: ExportChange[],
  results: ExportResult[],
  unresolved: Map<string, Planned[]>,
  options: { retryBaseMs: number; schema?: ImportSchema },
) {
  const byId = new Map(results.map((r) => [r.id, r]));
  const changeById = new Map(changes.map((c) => [c.id, c]));
  const counts = { created: 0, updated: 0, deleted: 0, failed: 0 };
  const runChanges: RunChangeRow[] = [];
  const exported: string[] = [];
  const objects: { id: string; anchor: string | null; dn: string | null; attributes: string; hash: string }[] = [];
  /** Objects the target gave another anchor than the one stored (a CREATE's placeholder took the entry's). */
  const reanchored: { id: string; anchor: string }[] = [];
  const followUps: { id: string; changes: string }[] = [];
  const failures: ExportFailure[] = [];
  for (const e of claimed) {
    const change = changeById.get(e.id)!;
    const result: ExportResult = byId.get(e.id) ?? {
      id: e.id,
      status: "TRANSIENT_FAILURE",
      code: "INTERNAL",
      message: "the connector returned no result",
    };
    const base = { pendingExportId: e.id, csoId: e.csoId, anchor: e.anchor, sourceSystemId: ctx.system.id };
    if (result.status === "APPLIED") {
      counts[e.changeType === "CREATE" ? "created" : e.changeType === "UPDATE" ? "updated" : "deleted"]++;
      exported.push(e.id);
      if (e.csoId && e.changeType !== "DELETE") {
        // Connector space now expects what was sent (all the new object holds, when the connector
        // says), as an import reads it; the next import confirms it.
        const sent =
          e.changeType === "CREATE" && result.attributes
            ? sealedAsPlanned(result.attributes, change.attributes)
            : applyChanges(e.csoAttributes ?? {}, change.attributes);
        const attributes: Attributes = inImportShape(sent, options.schema?.get(change.objectType));
        objects.push({
          id: e.csoId,
          anchor: result.anchor ?? null,
          dn: result.dn ?? change.newDn ?? null,
          attributes: JSON.stringify(attributes),
          hash: contentHash(attributes),
        });
        if (result.anchor && result.anchor !== e.anchor) reanchored.push({ id: e.csoId, anchor: result.anchor });
      }
      const later = unresolved.get(e.id);
      if (later?.length) followUps.push({ id: e.id, changes: JSON.stringify(later) });
      runChanges.push({
        ...base,
        changeType: "EXPORTED",
        attributeChanges: {
          changeType: e.changeType,
          dn: result.dn ?? change.newDn ?? change.dn ?? null,
          changes: change.attributes,
        },
      });
    } else {
      counts.failed++;
      const errors = e.errorCount + 1;
      const retry = result.status === "TRANSIENT_FAILURE" && errors < e.maxRetries;
      failures.push({
        id: e.id,
        status: retry ? "FAILED" : "ERROR",
        errors,
        message: result.message,
        code: result.code,
        // Never before the target's own Retry-After, whatever the backoff says.
        retryAt: retry
          ? new Date(Date.now() + Math.max(backoffDelay(errors, options.retryBaseMs), result.retryAfterMs ?? 0))
          : null,
      });
      runChanges.push({ ...base, changeType: "EXPORT_FAILED", errorCode: result.code, message: result.message });
    }
  }
  await mergeJoinedEntries(tx, ctx.system.id, reanchored, objects, exported, failures, runChanges, counts);
  // A handful of set-based statements per batch, whatever its size.
  await markExported(tx, exported);
  await closeSupersededFailures(tx, exported);
  if (objects.length) {
    // Stored attributes that no import validated: the next full import checks every object.
    await distrustStored(tx, ctx.system.id);
    await updateExported(tx, objects);
  }
  await queueReferenceFollowUps(tx, followUps);
  await recordFailures(tx, failures);
  await insertRunChanges(tx, ctx.run.id, runChanges);
  // The claim read each export's planning run: no second read of the batch's rows.
  await notifyExportChanges(
    ctx.publish,
    tx,
    claimed.map((e) => ({ id: e.id, systemId: ctx.system.id, runId: e.planningRunId })),
    ctx.run.id,
  );
  return counts;
}

/**
 * A CREATE can join an entry that was already there (its own add whose reply was lost, or one
 * made by someone else): its anchor may then be held by another connector space object, the
 * entry as an earlier import saw it. Unjoined, that object is the same entry seen before it was
 * ours: it goes, and the provisioned object takes the anchor. Joined to another identity, the
 * entry is not ours to take: that export fails (ALREADY_EXISTS) and its object keeps waiting.
 */
async function mergeJoinedEntries(
  tx: pg.PoolClient,
  systemId: string,
  // Only a new anchor can be held by another object: the one an object has is unique to it.
  anchored: { id: string; anchor: string }[],
  objects: { id: string; anchor: string | null }[],
  exported: string[],
  failures: ExportFailure[],
  runChanges: RunChangeRow[],
  counts: { created: number; failed: number },
) {
  if (!anchored.length) return;
  const rows = await anchorHolders(tx, systemId, anchored);
  if (!rows.length) return;
  await deleteObjects(
    tx,
    rows.filter((r) => !r.joined).map((r) => r.id),
  );
  const taken = new Set(rows.filter((r) => r.joined).map((r) => r.mine));
  if (!taken.size) return;
  for (let i = objects.length - 1; i >= 0; i--) if (taken.has(objects[i]!.id)) objects.splice(i, 1);
  const byCso = new Map(runChanges.filter((r) => r.csoId && taken.has(r.csoId)).map((r) => [r.csoId!, r]));
  for (const [csoId, change] of byCso) {
    const id = change.pendingExportId!;
    exported.splice(exported.indexOf(id), 1);
    counts.created--;
    counts.failed++;
    const message = `the entry already exists and belongs to another identity's object (anchor of ${csoId})`;
    failures.push({ id, status: "ERROR", errors: 1, message, code: "ALREADY_EXISTS", retryAt: null });
    Object.assign(change, { changeType: "EXPORT_FAILED", errorCode: "ALREADY_EXISTS", message, attributeChanges: undefined });
  }
}

/**
 * A CREATE's answer (what the connector sent) as the object's expected state, with each secret
 * the plan held sealed put back sealed: the connector opened it to send it (a password hash
 * copied between directories), and its answer must not bring it into the database in the clear.
 * Names are matched in any case, as a directory's are.
 */
function sealedAsPlanned(sent: Attributes, planned: AttributeChange[]): Attributes {
  const sealed = new Map(planned.filter((c) => c.values.some(isSealedValue)).map((c) => [c.attribute.toLowerCase(), c.values]));
  if (!sealed.size) return sent;
  return Object.fromEntries(Object.entries(sent).map(([name, value]) => [name, sealed.get(name.toLowerCase()) ?? value]));
}
